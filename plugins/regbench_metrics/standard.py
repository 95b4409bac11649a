"""The field's common metrics, as regbench plugins: Dice, HD95 on voxel centres,
folding and SDlogJ of the Jacobian, image similarity after warping, TRE at landmarks
and the error against the true field (where a dataset knows them). Each declares
its columns with their exact definitions (``regbench list`` shows them); Learn2Reg's
definitions are the ``l2r-*`` metrics (:mod:`regbench_metrics.learn2reg`)."""

from __future__ import annotations

from regbench import Column, Metric, MetricValues, PairOutcome, Registry, hookimpl
from regbench.measuring import (
    correspondence,
    dice_per_label,
    folding_percent,
    hd95_per_label,
    mean_squared_error,
    normalized_cross_correlation,
    sd_log_jacobian,
)

COMMON = "common"


class Dice(Metric):
    name = "dice"
    description = "Dice overlap per label (background excluded)"
    needs_labels = True
    columns = (Column("dice", "Dice", "2|A∩B|/(|A|+|B|) per label of the fixed and warped label maps, background "
                      "excluded; NaN for a label absent from both", better="higher", per_label=True, tolerance=0.01,
                      family=COMMON),)

    def compute(self, outcome: PairOutcome) -> MetricValues:
        return {"dice": dice_per_label(outcome.fixed.seg, outcome.warped_seg, list(outcome.labels))}


class HD95(Metric):
    name = "hd95"
    description = "95th percentile Hausdorff distance per label, in mm"
    needs_labels = True
    columns = (Column("hd95", "HD95 (mm)", "the larger directed 95th percentile of distances between the boundary "
                      "voxels' centres of a label in the fixed and warped maps, in mm (voxel spacing aware)",
                      better="lower", per_label=True, format=".4g", family=COMMON),)

    def compute(self, outcome: PairOutcome) -> MetricValues:
        return {"hd95": hd95_per_label(outcome.fixed.seg, outcome.warped_seg, list(outcome.labels), outcome.spacing)}


class JacobianMetrics(Metric):
    name = "jacobian"
    description = "% folding (det J <= 0) and SDlogJ of the deformation"
    columns = (
        Column("folding_percent", "% folding (det J ≤ 0)", "% of voxels where det J of x + u(x) (central "
               "differences) is ≤ 0", better="lower", format=".4g", family=COMMON, figure="validity"),
        Column("sdlogj", "SDlogJ", "standard deviation of log(clip(det J, 1e-9, 1e9)) over the whole image",
               better="lower", format=".4g", family=COMMON),
    )

    def compute(self, outcome: PairOutcome) -> MetricValues:
        jacobian = outcome.jacobian_tensor
        return {"folding_percent": folding_percent(jacobian), "sdlogj": sd_log_jacobian(jacobian)}


class ImageSimilarity(Metric):
    name = "similarity"
    description = "MSE and NCC between the fixed and the warped moving image"
    columns = (
        Column("mse", "MSE", "mean squared intensity difference of the fixed and warped images", better="lower",
               format=".4g", family=COMMON),
        Column("ncc", "NCC", "global normalised cross-correlation (Pearson) of the fixed and warped images",
               better="higher", format=".4g", family=COMMON),
    )

    def compute(self, outcome: PairOutcome) -> MetricValues:
        return {
            "mse": mean_squared_error(outcome.fixed.image, outcome.warped_image),
            "ncc": normalized_cross_correlation(outcome.fixed.image, outcome.warped_image),
        }


class TargetRegistrationError(Metric):
    name = "tre"
    description = "target registration error at the pair's landmarks, in mm"
    needs_landmarks = True
    columns = (
        Column("tre", "TRE (mm)", "mean over landmarks of |f + u(f) - m| in mm, u(f) linearly interpolated at the "
               "fixed landmark f, m its moving landmark", better="lower", format=".4g", family=COMMON,
               figure="correspondence"),
        Column("tre_std", "TRE std (mm)", "standard deviation of the landmarks' TRE within the pair", format=".4g",
               family=COMMON),
        Column("tre_p95", "TRE p95 (mm)", "95th percentile of the landmarks' TRE within the pair", better="lower",
               format=".4g", family=COMMON),
    )

    def compute(self, outcome: PairOutcome) -> MetricValues:
        landmarks = outcome.landmarks
        assert landmarks is not None  # needs_landmarks
        errors = correspondence.landmark_errors(outcome.displacement, landmarks.fixed, landmarks.moving,
                                                outcome.spacing)
        mean, std, p95 = correspondence.summary(errors)
        return {"tre": mean, "tre_std": std, "tre_p95": p95}


class TrueFieldError(Metric):
    name = "true-error"
    description = "end-point error against the true field, where the dataset knows it (generated data), in mm"
    needs_true_displacement = True
    columns = (
        Column("epe", "true error (mm)", "mean over the fixed image's labelled voxels (every voxel when unlabelled) "
               "of |u(x) - u_true(x)| in mm, u_true the pair's true field (the dataset's true_displacement)",
               better="lower", format=".4g", family=COMMON, figure="correspondence"),
        Column("epe_p95", "true error p95 (mm)", "95th percentile of |u(x) - u_true(x)| in mm over the same voxels",
               better="lower", format=".4g", family=COMMON),
    )

    def compute(self, outcome: PairOutcome) -> MetricValues:
        assert outcome.true_displacement is not None  # needs_true_displacement
        mask = outcome.fixed.seg > 0 if outcome.fixed.seg is not None else None
        errors = correspondence.endpoint_errors(outcome.displacement, outcome.true_displacement, outcome.spacing,
                                                mask)
        mean, _, p95 = correspondence.summary(errors)
        return {"epe": mean, "epe_p95": p95}


@hookimpl
def regbench_register_metrics(register: Registry[Metric]) -> None:
    for metric in (Dice, HD95, JacobianMetrics, ImageSimilarity, TargetRegistrationError, TrueFieldError):
        register(metric)
