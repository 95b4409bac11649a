"""regbench: a plugin-based benchmark for deformable medical image registration.

The public names a plugin author needs are re-exported here.
"""

from regbench.dataset import Dataset, Pair, Subject
from regbench.hookspecs import hookimpl
from regbench.method import Method, RegistrationResult, TrainingContext
from regbench.metric import Metric, PairOutcome

__version__ = "0.1.0"

__all__ = [
    "Dataset",
    "Method",
    "Metric",
    "Pair",
    "PairOutcome",
    "RegistrationResult",
    "Subject",
    "TrainingContext",
    "__version__",
    "hookimpl",
]
