"""regbench: a plugin-based benchmark for deformable medical image registration.

Everything a plugin author needs to write a method, a dataset or a metric is
importable from here; the toolkits for learning methods (``regbench.learning``),
measuring (``regbench.measuring``) and dataset files (``regbench.data``) are public
too. ``docs/architecture.md`` shows how the parts fit. Importing this module loads
neither torch nor any plugin.
"""

from regbench.plugin.dataset import (
    Dataset,
    GeneratedDataset,
    Pair,
    SplitDataset,
    Subject,
)
from regbench.plugin.hookspecs import hookimpl
from regbench.plugin.method import Method, RegistrationResult, TrainingContext
from regbench.plugin.metric import Column, Metric, MetricValues, PairOutcome

__version__ = "0.1.0"

__all__ = [
    "Column",
    "Dataset",
    "GeneratedDataset",
    "Method",
    "Metric",
    "MetricValues",
    "Pair",
    "PairOutcome",
    "RegistrationResult",
    "SplitDataset",
    "Subject",
    "TrainingContext",
    "__version__",
    "hookimpl",
]
