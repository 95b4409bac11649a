"""regbench: a plugin-based benchmark for deformable medical image registration.

Everything a plugin author needs to write a method, a dataset or a metric is
importable from here; the toolkits for learning methods (``regbench.learning``),
measuring (``regbench.measuring``) and dataset files (``regbench.data``) are public
too. ``docs/architecture.md`` shows how the parts fit. Importing this module loads
neither torch nor any plugin.
"""

import importlib.metadata

from regbench.plugin.dataset import Dataset, GeneratedDataset, Landmarks, Pair, SplitDataset, Subject
from regbench.plugin.hookspecs import hookimpl
from regbench.plugin.method import Method, RegistrationResult, TrainingContext
from regbench.plugin.metric import Column, Metric, MetricValues, PairOutcome
from regbench.plugin.options import Choices, Range
from regbench.plugin.registry import Registry
from regbench.plugin.training import PROFILES, Profile, TrainingReport

try:
    __version__ = importlib.metadata.version("regbench")  # written once, in pyproject.toml
except importlib.metadata.PackageNotFoundError:  # a source tree on sys.path, never installed
    __version__ = "not installed"

__all__ = [
    "PROFILES",
    "Choices",
    "Column",
    "Dataset",
    "GeneratedDataset",
    "Landmarks",
    "Method",
    "Metric",
    "MetricValues",
    "Pair",
    "PairOutcome",
    "Profile",
    "Range",
    "RegistrationResult",
    "Registry",
    "SplitDataset",
    "Subject",
    "TrainingContext",
    "TrainingReport",
    "__version__",
    "hookimpl",
]
