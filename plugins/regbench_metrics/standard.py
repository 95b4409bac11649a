"""The field's standard metrics (DESIGN.md §6), as regbench plugins."""

from __future__ import annotations

from regbench import hookimpl
from regbench.metric import Metric, MetricValues, PairOutcome
from regbench.metrics import (
    dice_per_label,
    folding_percent,
    hd95_per_label,
    mean_squared_error,
    normalized_cross_correlation,
    sd_log_jacobian,
)


class Dice(Metric):
    name = "dice"
    description = "Dice overlap per label (background excluded)"
    needs_labels = True

    def compute(self, outcome: PairOutcome) -> MetricValues:
        return {"dice": dice_per_label(outcome.fixed.seg, outcome.warped_seg, list(outcome.labels))}


class HD95(Metric):
    name = "hd95"
    description = "95th percentile Hausdorff distance per label, in mm"
    needs_labels = True

    def compute(self, outcome: PairOutcome) -> MetricValues:
        return {"hd95": hd95_per_label(outcome.fixed.seg, outcome.warped_seg, list(outcome.labels), outcome.spacing)}


class JacobianMetrics(Metric):
    name = "jacobian"
    description = "% folding (det J <= 0) and SDlogJ of the deformation"

    def compute(self, outcome: PairOutcome) -> MetricValues:
        return {"folding_percent": folding_percent(outcome.jacobian), "sdlogj": sd_log_jacobian(outcome.jacobian)}


class ImageSimilarity(Metric):
    name = "similarity"
    description = "MSE and NCC between the fixed and the warped moving image"

    def compute(self, outcome: PairOutcome) -> MetricValues:
        return {
            "mse": mean_squared_error(outcome.fixed.image, outcome.warped_image),
            "ncc": normalized_cross_correlation(outcome.fixed.image, outcome.warped_image),
        }


@hookimpl
def regbench_register_metrics(register) -> None:
    for metric in (Dice, HD95, JacobianMetrics, ImageSimilarity):
        register(metric)
