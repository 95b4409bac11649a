"""The Learn2Reg family, as regbench plugins: Dice, HD95, SDlogJ and TRE exactly as the
Learn2Reg challenge's evaluation computes them (:mod:`regbench.measuring.learn2reg`),
so these columns can be put beside a published Learn2Reg table. Their names start with
``l2r``; the common family's (``dice``, ``hd95``, ``sdlogj``) are computed as most
papers compute them and differ on purpose."""

from __future__ import annotations

from regbench import Column, Metric, MetricValues, PairOutcome, Registry, hookimpl
from regbench.measuring import learn2reg

LEARN2REG = "learn2reg"
_SCORED = "NaN for a label absent from the fixed or the original moving map; the pair's value is the nanmean over labels"
_LABELS_WARPED = "labels warped by map_coordinates(order=0), 0 outside the image"


class L2rDice(Metric):
    name = "l2r-dice"
    description = "Dice per label as Learn2Reg evaluates it"
    needs_labels = True
    columns = (Column("l2r_dice", "L2R Dice", f"2|A∩B|/(|A|+|B|) per label of the fixed and warped label maps "
                      f"({_LABELS_WARPED}); {_SCORED}; robust: 0.3 quantile over pairs", better="higher",
                      per_label=True, robust=(learn2reg.ROBUST_QUANTILE, "L2R DSC30"), family=LEARN2REG),)

    def compute(self, outcome: PairOutcome) -> MetricValues:
        return {"l2r_dice": learn2reg.dice(outcome.fixed.seg, outcome.moving.seg, outcome.l2r_warped_seg,
                                           list(outcome.labels))}


class L2rHD95(Metric):
    name = "l2r-hd95"
    description = "95% Hausdorff distance per label as Learn2Reg evaluates it (surface-distance), in mm"
    needs_labels = True
    columns = (Column("l2r_hd95", "L2R HD95 (mm)", f"surface-distance's compute_robust_hausdorff(.., 95) of "
                      f"compute_surface_distances(fixed == label, warped == label, spacing): area-weighted surface "
                      f"elements on the voxel-corner grid, at the dataset's spacing ({_LABELS_WARPED}); {_SCORED}; "
                      f"infinite for a label the warp lost; robust: 0.3 quantile over pairs, as the challenge's "
                      f"script computes it", better="lower", per_label=True, format=".4g",
                      robust=(learn2reg.ROBUST_QUANTILE, "L2R HD95-30"), family=LEARN2REG),)

    def compute(self, outcome: PairOutcome) -> MetricValues:
        return {"l2r_hd95": learn2reg.hd95(outcome.fixed.seg, outcome.moving.seg, outcome.l2r_warped_seg,
                                           list(outcome.labels), outcome.spacing)}


class L2rSDlogJ(Metric):
    name = "l2r-sdlogj"
    description = "SDlogJ as Learn2Reg evaluates it (det J + 3, cropped by 2 voxels)"
    columns = (Column("l2r_sdlogj", "L2R SDlogJ", "std(log(clip(det J + 3, 1e-9, 1e9))), det J of x + u(x) from "
                      "central differences with zero padding, cropped by 2 voxels on every side (2D: the 2x2 "
                      "analogue); the +3 damps it several-fold against SDlogJ; robust: 0.7 quantile over pairs (the "
                      "worst 30 %), as the challenge's evaluation 2.0", better="lower", format=".4g",
                      robust=(learn2reg.ROBUST_QUANTILE_LOWER_BETTER, "L2R SDlogJ30"), family=LEARN2REG),)

    def compute(self, outcome: PairOutcome) -> MetricValues:
        return {"l2r_sdlogj": learn2reg.sd_log_jacobian(outcome.jacobian_tensor)}


class L2rTRE(Metric):
    name = "l2r-tre"
    description = "target registration error at landmarks as Learn2Reg evaluates it (cubic spline sampling), in mm"
    needs_landmarks = True
    columns = (Column("l2r_tre", "L2R TRE (mm)", "mean over landmarks of |f + u(f) - m| in mm (the moving image's "
                      "spacing), u(f) sampled at the fixed landmarks f by map_coordinates' default cubic spline "
                      "(order 3, prefiltered, 0 outside the image), m the moving landmarks: the challenge's "
                      "compute_tre; robust: 0.7 quantile over pairs (the worst 30 %), as the challenge's evaluation "
                      "2.0", better="lower", format=".4g",
                      robust=(learn2reg.ROBUST_QUANTILE_LOWER_BETTER, "L2R TRE30"), family=LEARN2REG),)

    def compute(self, outcome: PairOutcome) -> MetricValues:
        landmarks = outcome.landmarks
        assert landmarks is not None  # needs_landmarks
        errors = learn2reg.tre(outcome.displacement, landmarks.fixed, landmarks.moving, outcome.spacing)
        return {"l2r_tre": float(errors.mean())}


@hookimpl
def regbench_register_metrics(register: Registry[Metric]) -> None:
    register(L2rDice)
    register(L2rHD95, requires=("surface_distance",), install="pip install surface-distance")
    register(L2rSDlogJ)
    register(L2rTRE)
