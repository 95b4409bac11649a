"""Seconds to score one 3D pair, by step, against the Learn2Reg-style computation timed in
the same run.

A synthetic brain-sized pair (160x192x160 voxels, 56 labels: ``tests/support/scoring_pair.py``'s
Voronoi parcellation of an ellipsoid, the moving map a smooth deformation of it) and a
random field of a few voxels that folds in places. regbench scores it as a run does: one
:class:`~regbench.plugin.metric.PairOutcome`, its shared derived arrays (warped labels
two ways, warped image, Jacobian) timed where a metric first asks for them, then every
installed metric. The reference is ``tests/support/learn2reg_reference.py``: the challenge's
evaluation re-applied step by step (scipy's ``map_coordinates``, per-label Dice and
surface-distance HD95, a correlated Jacobian), its warping, Dice, HD95 and SDlogJ timed
apart. Each step is timed ``--repeats`` times, fastest kept; the table gives each as a
ratio to the reference's total.

    python benchmarks/scoring_speed.py [--shape 160,192,160] [--labels 56] [--repeats 3] [--device cuda]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))
import learn2reg_reference as reference  # noqa: E402
from scoring_pair import make_pair  # noqa: E402

from regbench.plugin.dataset import Subject  # noqa: E402
from regbench.plugin.manager import collect, plugin_manager  # noqa: E402
from regbench.plugin.metric import PairOutcome  # noqa: E402

DERIVED = ("warped_seg", "l2r_warped_seg", "warped_image", "jacobian")  # PairOutcome's shared arrays


def fastest(action: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def time_regbench(fixed: Subject, moving: Subject, field: np.ndarray, labels: dict[int, str],
                  repeats: int, device: str) -> dict[str, float]:
    """Seconds of each shared array and each metric, as a run scores a pair."""
    metrics = {entry.name: entry.cls() for entry in collect(plugin_manager([])).metrics.entries() if entry.installed}
    outcome = lambda: PairOutcome(fixed=fixed, moving=moving, displacement=field, labels=labels,  # noqa: E731
                                  spacing=(1.0,) * field.shape[0], device=device)
    seconds = {}
    for name in DERIVED:
        if hasattr(PairOutcome, name):
            seconds[f"shared: {name}"] = fastest(lambda name=name: getattr(outcome(), name), repeats)
    prepared = outcome()
    for name in DERIVED:
        getattr(prepared, name, None)
    for name, metric in sorted(metrics.items()):
        if metric.applies_to(prepared):  # a pair without landmarks or a true field: TRE is not scored
            seconds[f"metric: {name}"] = fastest(lambda metric=metric: metric.compute(prepared), repeats)
    return seconds


def time_reference(fixed: Subject, moving: Subject, field: np.ndarray, labels: list[int],
                   repeats: int) -> dict[str, float]:
    disp = np.moveaxis(field.astype(np.float64), 0, -1)  # the challenge reads fields channels last, float64
    warped = reference.warp_seg(moving.seg, disp)
    spacing = (1.0,) * field.shape[0]
    return {
        "warp labels": fastest(lambda: reference.warp_seg(moving.seg, disp), repeats),
        "dice": fastest(lambda: reference.dice(fixed.seg, moving.seg, warped, labels), repeats),
        "hd95": fastest(lambda: reference.hd95(fixed.seg, moving.seg, warped, labels, spacing), repeats),
        "sdlogj": fastest(lambda: reference.sdlogj(disp), repeats),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="160,192,160", help="spatial shape (default: 160,192,160)")
    parser.add_argument("--labels", type=int, default=56, help="number of labels (default: 56)")
    parser.add_argument("--repeats", type=int, default=3, help="timings per step, fastest kept (default: 3)")
    parser.add_argument("--device", default="cpu", help="where regbench computes the shared arrays (default: cpu)")
    args = parser.parse_args()
    shape = tuple(int(n) for n in args.shape.split(","))
    fixed, moving, field = make_pair(shape, args.labels, ties=False)
    labels = {label: f"label {label}" for label in range(1, args.labels + 1)}
    ours = time_regbench(fixed, moving, field, labels, args.repeats, args.device)
    theirs = time_reference(fixed, moving, field, list(labels), args.repeats)
    total = sum(theirs.values())
    print(f"one pair of {'x'.join(map(str, shape))} voxels, {args.labels} labels; fastest of {args.repeats}; "
          f"regbench's shared arrays on {args.device}\n")
    print("| step | seconds | × reference total |\n|---|---|---|")
    for name, value in [*(("Learn2Reg-style: " + k, v) for k, v in theirs.items()), *ours.items()]:
        print(f"| {name} | {value:.3f} | {value / total:.3f} |")
    print(f"| **Learn2Reg-style, all** | {total:.3f} | 1.000 |")
    print(f"| **regbench, every metric** | {sum(ours.values()):.3f} | {sum(ours.values()) / total:.3f} |")


if __name__ == "__main__":
    main()
