"""The toolkit of learning methods: training profiles, the batches every framework
draws, validation while training (when to stop), the shared PyTorch trainer, and
cached weights (one load-or-train routine).

Names are imported on first use, so ``regbench.learning.profiles`` stays light while
``regbench.learning.LearnedMethod`` brings torch.
"""

from regbench.common.lazy import lazy_exports

_EXPORTS = {
    "LearnedMethod": "regbench.learning.learned",
    "CachedWeights": "regbench.learning.weights",
    "TrainingReport": "regbench.learning.weights",
    "default_cache_dir": "regbench.learning.weights",
    "TrainingBatches": "regbench.learning.batches",
    "run_steps": "regbench.learning.batches",
    "StepsRun": "regbench.learning.batches",
    "make_validator": "regbench.learning.validation",
    "split_validation": "regbench.learning.validation",
    "Profile": "regbench.learning.profiles",
    "PROFILES": "regbench.learning.profiles",
    "DEFAULT_REG_WEIGHT": "regbench.learning.trainer",
    "train": "regbench.learning.trainer",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
