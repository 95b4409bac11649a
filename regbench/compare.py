"""``regbench compare CURRENT BASELINE``: the CI gate for accuracy and speed.

For every method of the baseline it compares the mean Dice over pairs and the speed
ratio, i.e. median seconds per pair divided by the reference workload's seconds, timed by
the same worker process just before its pairs (:mod:`regbench.reference`), so that a
slower or busier machine does not read as a slower method. A method regresses when its Dice drops by more than
``dice_tolerance``, when its speed ratio grows by more than ``speed_factor``, when it
fails pairs the baseline did not, or when it is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from regbench.tables import RESULTS_FILE

# Below this many seconds per pair, timing noise dominates: the speed check is skipped.
MIN_TIMED_SECONDS = 1e-3


@dataclass(frozen=True)
class Thresholds:
    dice_tolerance: float = 0.01  # absolute drop in mean Dice
    speed_factor: float = 1.5  # growth of the speed ratio


def read_results(folder: Path) -> pd.DataFrame:
    path = folder / RESULTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: expected a folder written by `regbench run`")
    results = pd.read_csv(path)
    if "reference_seconds" not in results:
        raise ValueError(f"{path} has no reference_seconds column: rerun it with this version of regbench")
    return results


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Per method: mean Dice over pairs, median seconds per pair (robust to the odd pair
    slowed by something else on the machine), speed ratio, failed pairs."""
    rows = {}
    for method, group in results.groupby("method", sort=False):
        ok = group[group["status"] == "ok"]
        seconds = ok["seconds"].median() if len(ok) else np.nan
        rows[method] = {
            "dice": ok["dice_mean"].mean() if len(ok) and "dice_mean" in ok else np.nan,
            "seconds": seconds,
            "speed_ratio": seconds / ok["reference_seconds"].median() if len(ok) else np.nan,
            "failed": int((group["status"] != "ok").sum()),
        }
    return pd.DataFrame(rows).T


def compare(current: pd.DataFrame, baseline: pd.DataFrame, thresholds: Thresholds = Thresholds()) -> pd.DataFrame:
    """A table of what moved, one row per method, with a ``verdict`` column."""
    now, before = summarize(current), summarize(baseline)
    rows = []
    for method in list(dict.fromkeys([*before.index, *now.index])):
        if method not in now.index:
            rows.append({"method": method, "verdict": "REGRESSION: missing from the current run"})
            continue
        if method not in before.index:
            rows.append({"method": method, "dice": now.at[method, "dice"], "verdict": "new (not in the baseline)"})
            continue
        a, b = before.loc[method], now.loc[method]
        speed_change = b["speed_ratio"] / a["speed_ratio"] if a["speed_ratio"] > 0 else np.nan
        problems = []
        if b["dice"] < a["dice"] - thresholds.dice_tolerance or (np.isnan(b["dice"]) and not np.isnan(a["dice"])):
            problems.append(f"Dice dropped by {a['dice'] - b['dice']:.4f} (tolerance {thresholds.dice_tolerance})")
        if a["seconds"] >= MIN_TIMED_SECONDS and speed_change > thresholds.speed_factor:
            problems.append(f"{speed_change:.2f}x slower (allowed {thresholds.speed_factor}x)")
        if b["failed"] > a["failed"]:
            problems.append(f"{int(b['failed'])} failed pairs (baseline {int(a['failed'])})")
        rows.append({
            "method": method,
            "dice baseline": a["dice"], "dice": b["dice"], "Δ dice": b["dice"] - a["dice"],
            "speed ratio baseline": a["speed_ratio"], "speed ratio": b["speed_ratio"], "× slower": speed_change,
            "verdict": "REGRESSION: " + "; ".join(problems) if problems else "ok",
        })
    return pd.DataFrame(rows).set_index("method")


def has_regression(table: pd.DataFrame) -> bool:
    return bool(table["verdict"].str.startswith("REGRESSION").any())
