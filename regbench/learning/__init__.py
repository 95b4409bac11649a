"""The toolkit of learning methods: the batches every framework draws, validation
while training (when to stop), the shared PyTorch trainer, and cached weights (one
load-or-train routine). The vocabulary they share with every method (``Profile``,
``PROFILES``, ``TrainingReport``) belongs to the contract,
:mod:`regbench.plugin.training`, and is re-exported here for the toolkit's users.

Names are imported on first use, so ``regbench.learning.TrainingBatches`` stays light
while ``regbench.learning.LearnedMethod`` brings torch.
"""

from regbench.common.lazy import lazy_exports

_EXPORTS = {
    "LearnedMethod": "regbench.learning.learned",
    "CachedWeights": "regbench.learning.weights",
    "TrainingReport": "regbench.plugin.training",
    "default_cache_dir": "regbench.learning.weights",
    "TrainingBatches": "regbench.learning.batches",
    "run_steps": "regbench.learning.batches",
    "StepsRun": "regbench.learning.batches",
    "make_validator": "regbench.learning.validation",
    "split_validation": "regbench.learning.validation",
    "Profile": "regbench.plugin.training",
    "PROFILES": "regbench.plugin.training",
    "DEFAULT_REG_WEIGHT": "regbench.learning.trainer",
    "train": "regbench.learning.trainer",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
