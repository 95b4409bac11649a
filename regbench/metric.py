"""What a metric is, to regbench.

After a method registers a pair, the harness warps the moving image and labels with
the method's field and hands the whole outcome to every metric. Metrics are plugins,
like methods and datasets, so anyone can add one.
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from regbench.dataset import Subject
from regbench.metrics import jacobian_determinant


@dataclass(frozen=True)
class PairOutcome:
    """One registered pair: the inputs, the method's field and what the harness warped."""

    fixed: Subject
    moving: Subject
    displacement: np.ndarray  # (ndim, *spatial), voxel units, pull-back
    warped_image: np.ndarray
    warped_seg: np.ndarray | None
    labels: Mapping[int, str]  # scored labels (background excluded)
    spacing: tuple[float, ...]

    @functools.cached_property
    def jacobian(self) -> np.ndarray:
        """det J of ``x + u(x)``, computed once and shared by the metrics that need it."""
        return jacobian_determinant(self.displacement)


MetricValues = Mapping[str, "float | np.ndarray"]


class Metric(abc.ABC):
    """A metric: ``compute`` returns named values for one pair.

    A float becomes a column of the results table. An array with one value per label
    (in the order of ``outcome.labels``) becomes a column of the per-label table, and
    its mean and standard deviation over labels become ``NAME_mean`` and ``NAME_std``
    in the results table. Metrics that need label maps set ``needs_labels``; they are
    skipped for pairs without them.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    needs_labels: ClassVar[bool] = False

    @abc.abstractmethod
    def compute(self, outcome: PairOutcome) -> MetricValues:
        """The values of this metric for one pair."""
