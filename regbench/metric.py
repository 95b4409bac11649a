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
from regbench.warp import warp_image, warp_labels


@dataclass(frozen=True)
class PairOutcome:
    """One registered pair: the inputs and the method's field. What the harness derives
    from them (warped image, warped labels, Jacobian) is computed on first use and
    shared, so a metric selection that needs none of it costs nothing."""

    fixed: Subject
    moving: Subject
    displacement: np.ndarray  # (ndim, *spatial), voxel units, pull-back
    labels: Mapping[int, str]  # scored labels (background excluded)
    spacing: tuple[float, ...]

    @functools.cached_property
    def warped_image(self) -> np.ndarray:
        return warp_image(self.moving.image, self.displacement)

    @functools.cached_property
    def warped_seg(self) -> np.ndarray | None:
        return warp_labels(self.moving.seg, self.displacement) if self.moving.seg is not None else None

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
