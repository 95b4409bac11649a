"""How closely regbench's ``l2r_*`` columns agree with the Learn2Reg challenge's rules,
re-applied independently (``tests/support/learn2reg_reference.py``: scipy and surface-distance,
step by step as the challenge's script) to the fields a run exported.

    regbench run --methods ants-syn,identity --export l2r EXPORT --out RESULTS ...
    python benchmarks/l2r_agreement.py RESULTS EXPORT

Prints, per metric, regbench's and the reference's per-pair means, per-label values and
aggregates over pairs (mean, std, 0.3 quantile), and the largest absolute difference.
The fields are read as the challenge reads them (``nibabel``'s ``get_fdata``, float64).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))
import learn2reg_reference as reference  # noqa: E402

from regbench.outputs.fields import L2rFolder, case_names  # noqa: E402
from regbench.plugin.manager import collect, plugin_manager  # noqa: E402

METRICS = ("l2r_dice", "l2r_hd95", "l2r_sdlogj")


def _max_difference(ours: np.ndarray, theirs: np.ndarray) -> float:
    ours, theirs = np.asarray(ours, float), np.asarray(theirs, float)
    if not np.array_equal(np.isnan(ours), np.isnan(theirs)) or not np.array_equal(np.isinf(ours), np.isinf(theirs)):
        return float("inf")
    finite = np.isfinite(ours)
    return float(np.abs(ours[finite] - theirs[finite]).max(initial=0.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("export", type=Path)
    args = parser.parse_args()
    info = json.loads((args.results / "run.json").read_text())
    dataset = collect(plugin_manager([])).datasets[info["dataset"]].cls(**info["dataset_options"])
    results = pd.read_csv(args.results / "results.csv")
    results = results[results["status"] == "ok"]
    labels = pd.read_csv(args.results / "label_metrics.csv")
    names = case_names(dataset.test_pairs())
    pairs = {pair.id: pair for pair in dataset.test_pairs()}
    label_ids = list(dataset.labels)
    rows = []
    for method, group in results.groupby("method", sort=False):
        folder = L2rFolder(args.export / method, names)
        cases = {metric: [] for metric in METRICS}
        per_label = {metric: [] for metric in METRICS[:2]}
        for pair_id in group["pair"]:
            pair = pairs[pair_id]
            fixed, moving = dataset.load(pair.fixed_id), dataset.load(pair.moving_id)
            disp = nib.load(folder.path(pair)).get_fdata()
            warped = reference.warp_seg(moving.seg, disp)
            dice_mean, dice = reference.dice(fixed.seg, moving.seg, warped, label_ids)
            hd_mean, hd = reference.hd95(fixed.seg, moving.seg, warped, label_ids, dataset.spacing)
            cases["l2r_dice"].append(dice_mean)
            cases["l2r_hd95"].append(hd_mean)
            cases["l2r_sdlogj"].append(reference.sdlogj(disp))
            per_label["l2r_dice"] += dice
            per_label["l2r_hd95"] += hd
        ours_labels = labels[labels["method"] == method].set_index(["pair", "label_id"])
        for metric in METRICS:
            column = metric if metric == "l2r_sdlogj" else f"{metric}_mean"
            ours = group[column].to_numpy(float)
            theirs = np.asarray(cases[metric])
            aggregate_ours = reference.aggregate(ours)
            aggregate_theirs = reference.aggregate(theirs)
            differences = [_max_difference(ours, theirs)]
            if metric in per_label:
                index = pd.MultiIndex.from_product([group["pair"], label_ids])
                differences.append(_max_difference(ours_labels.loc[index, metric].to_numpy(), per_label[metric]))
            rows.append({"method": method, "metric": metric, "pairs": len(ours),
                         "regbench mean": aggregate_ours["mean"], "reference mean": aggregate_theirs["mean"],
                         "regbench 30%": aggregate_ours["30"], "reference 30%": aggregate_theirs["30"],
                         "max abs diff (pairs, labels)": max(differences)})
    print(f"dataset {info['dataset']} {info['dataset_options']}, fields from {args.export}\n")
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".6g"))


if __name__ == "__main__":
    main()
