"""What a metric is, to regbench, and how it declares the columns it adds.

After a method registers a pair, the harness hands the outcome (images, labels, the
method's field; the warped image, warped labels and Jacobian on first use) to every
metric. Metrics are plugins, like methods and datasets, so anyone can add one; each
declares its columns (:class:`Column`), and the tables, the report and
``regbench compare`` read those declarations, so an outside metric is summarised,
reported and gated like a built-in one.
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np

from regbench.plugin.dataset import Landmarks, Subject

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Column:
    """One value a metric computes, and how outputs show and judge it.

    ``name``: the key :meth:`Metric.compute` returns. A per-label value (an array, one
    entry per label) becomes a column of ``label_metrics.csv`` and, summarised over
    labels, ``NAME_mean`` and ``NAME_std`` in ``results.csv``; a scalar is a column of
    ``results.csv`` under its own name.
    ``heading``: its name in tables and the report. ``definition``: exactly what it
    computes (``regbench list`` shows it). ``better``: ``"higher"``, ``"lower"`` or None.
    ``tolerance``: ``regbench compare`` calls a change for the worse larger than this a
    regression (None: never judged). ``robust``: ``(quantile, heading)``, also summarised
    by this quantile over pairs (Learn2Reg's robust DSC30 is its Dice's at 0.3).
    ``family``: whose definition the value follows, e.g. ``"common"`` (as most papers
    compute it) or ``"learn2reg"`` (exactly as the Learn2Reg challenge's evaluation);
    the report says which family each column belongs to, so values computed
    differently are never read side by side as one. ``figure``: the report plots the
    column's per-pair values per method in the figure of this name, one panel per
    column that names it (``"correspondence"``: TRE and the true error; ``"validity"``:
    folding and NDV); None: no such figure (judged columns get their own).
    """

    name: str
    heading: str
    definition: str = ""
    better: Literal["higher", "lower"] | None = None
    per_label: bool = False
    format: str = ".4f"
    tolerance: float | None = None
    robust: tuple[float, str] | None = None
    family: str | None = None
    figure: str | None = None

    @property
    def result_column(self) -> str:
        """Its column in ``results.csv``: ``NAME_mean`` for per-label values."""
        return f"{self.name}_mean" if self.per_label else self.name

    def worse_by(self, before: float, after: float) -> float:
        """How much worse ``after`` is than ``before`` (negative: better; 0 without a direction)."""
        if self.better is None:
            return 0.0
        return before - after if self.better == "higher" else after - before


@dataclass(frozen=True)
class PairOutcome:
    """One registered pair: the inputs and the method's field. What the harness derives
    from them (warped image, warped labels, Jacobian) is computed on first use, once, on
    ``device`` (the method's: a GPU where the method ran on one), and shared by every
    metric, so a metric selection that needs none of it costs nothing.

    ``landmarks`` and ``true_displacement`` are what the dataset knows of the pair's
    true correspondence (:meth:`regbench.Dataset.pair_landmarks`,
    :meth:`regbench.Dataset.true_displacement`), checked; None when it knows nothing.

    ``warped_seg`` is warped as the common family warps labels
    (:func:`regbench.measuring.warp.warp_labels`), ``l2r_warped_seg`` as Learn2Reg's
    evaluation does; they differ only at the image border and on exact half-voxel ties."""

    fixed: Subject
    moving: Subject
    displacement: np.ndarray  # (ndim, *spatial), voxel units, pull-back
    labels: Mapping[int, str]  # scored labels (background excluded)
    spacing: tuple[float, ...]
    device: str = "cpu"  # a torch device type: where the derived arrays are computed
    landmarks: Landmarks | None = None
    true_displacement: np.ndarray | None = None  # (ndim, *spatial), voxel units, pull-back

    @functools.cached_property
    def warped_image(self) -> np.ndarray:
        from regbench.measuring.warp import warp_image  # noqa: PLC0415 - torch, only when a metric asks

        return warp_image(self.moving.image, self.displacement, device=self.device)

    @functools.cached_property
    def warped_seg(self) -> np.ndarray | None:
        from regbench.measuring.warp import warp_labels  # noqa: PLC0415

        if self.moving.seg is None:
            return None
        return warp_labels(self.moving.seg, self.displacement, device=self.device)

    @functools.cached_property
    def l2r_warped_seg(self) -> np.ndarray | None:
        """The moving labels warped as Learn2Reg's evaluation warps them (nearest
        neighbour by ``map_coordinates(order=0)``, 0 outside the image), for the
        ``learn2reg`` metric family."""
        from regbench.measuring.warp import warp_labels  # noqa: PLC0415

        if self.moving.seg is None:
            return None
        return warp_labels(self.moving.seg, self.displacement, rule="learn2reg", device=self.device)

    @functools.cached_property
    def jacobian_tensor(self) -> torch.Tensor:
        """det J of ``x + u(x)`` as a torch tensor on ``device``, computed once for every
        metric that summarises it; in float64 whatever the field's precision (as
        Learn2Reg's evaluation reads fields), so a nearly affine field's SDlogJ is not
        float32 rounding noise."""
        import torch  # noqa: PLC0415

        from regbench.measuring.metrics import jacobian_determinant  # noqa: PLC0415

        return jacobian_determinant(torch.as_tensor(self.displacement).to(self.device, torch.float64))

    @functools.cached_property
    def jacobian(self) -> np.ndarray:
        """:attr:`jacobian_tensor` as a numpy array (no copy on the CPU)."""
        return self.jacobian_tensor.cpu().numpy()


MetricValues = Mapping[str, "float | np.ndarray"]


class Metric(abc.ABC):
    """A metric: ``compute`` returns named values for one pair, one per declared column.

    Metrics that need label maps set ``needs_labels``; those that need corresponding
    landmarks, ``needs_landmarks``; those that need the true field,
    ``needs_true_displacement``. Each is skipped for pairs without what it needs (its
    columns are then empty for those pairs).
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    needs_labels: ClassVar[bool] = False
    needs_landmarks: ClassVar[bool] = False
    needs_true_displacement: ClassVar[bool] = False
    columns: ClassVar[tuple[Column, ...]] = ()

    def applies_to(self, outcome: PairOutcome) -> bool:
        """Whether ``outcome`` has what this metric needs."""
        has_labels = outcome.fixed.seg is not None and outcome.moving.seg is not None
        return ((has_labels or not self.needs_labels)
                and (outcome.landmarks is not None or not self.needs_landmarks)
                and (outcome.true_displacement is not None or not self.needs_true_displacement))

    @abc.abstractmethod
    def compute(self, outcome: PairOutcome) -> MetricValues:
        """The values of this metric for one pair."""
