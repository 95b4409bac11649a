"""The run-to-run spread of the speed gate's ratios, which sets how tight it can be.

Runs CI's gate workload (``.ci/run``'s ``regbench run`` line) ``--runs`` times on this
machine with the same weights, and prints per method the speed ratio of each run
(median over pairs of seconds / reference workload seconds), the largest ratio between
any two runs, and the share of the CPU other processes took. The gate's
``--speed-factor`` must sit above the largest spread of an idle machine.

    python benchmarks/gate_spread.py [--runs 5] [--repeats 3] [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from regbench.outputs import schema
from regbench.outputs.compare import summarize

GATE_RUN = ["run", "--methods", "all", "--dataset", "mni2d", "--dataset-option", "n_subjects=40", "--max-pairs", "6",
            "--profile", "smoke", "--seed", "0", "--no-progress", "--fresh"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "regbench-gate-spread")
    args = parser.parse_args()
    ratios, busy = {}, {}
    with tempfile.TemporaryDirectory() as folder:
        for run in range(args.runs):
            out = Path(folder) / f"run-{run}"
            subprocess.run([sys.executable, "-m", "regbench.cli", *GATE_RUN, "--repeats", str(args.repeats),
                            "--cache-dir", str(args.cache_dir), "--out", str(out)], check=True, capture_output=True)
            results = pd.read_csv(out / "results.csv")
            ratios[f"run {run}"] = summarize(results, [])["speed_ratio"]
            busy[f"run {run}"] = {method: schema.contention(rows[rows["status"] == schema.OK])
                                  for method, rows in results.groupby("method", sort=False)}
    table = pd.DataFrame(ratios)
    table["spread (max/min)"] = table.max(axis=1) / table.min(axis=1)
    table["others' CPU (max)"] = pd.DataFrame(busy).max(axis=1).map("{:.0%}".format)
    print(table.to_markdown(floatfmt=".3g"))
    print(f"\nlargest spread: {table['spread (max/min)'].max():.2f}x (--repeats {args.repeats})")


if __name__ == "__main__":
    main()
