"""Wall time of one method's evaluation on 1 and on 2 workers, on the local pool and on
a Dask LocalCluster, measured back to back in one run of this script:

    python benchmarks/workers_speedup.py [--method ants-syn] [--max-pairs 60]

Each configuration runs ``regbench run --fresh`` into a temporary folder (the dataset's
default test pairs of ``mni2d``) and is timed from start to exit, worker start-up
included; the speed-up is 1-worker time ÷ 2-worker time of the same executor.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

CONFIGURATIONS = {
    "local, 1 worker": ["--workers", "1"],
    "local, 2 workers": ["--workers", "2"],
    "dask LocalCluster, 1 worker": ["--scheduler", "local", "--workers", "1"],
    "dask LocalCluster, 2 workers": ["--scheduler", "local", "--workers", "2"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", default="ants-syn")
    parser.add_argument("--max-pairs", type=int, default=None)
    args = parser.parse_args()
    limit = ["--max-pairs", str(args.max_pairs)] if args.max_pairs else []
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, extra in CONFIGURATIONS.items():
            out = Path(folder) / name.replace(" ", "_").replace(",", "")
            command = [sys.executable, "-m", "regbench.cli", "run", "--methods", args.method, "--dataset", "mni2d",
                       "--no-progress", "--fresh", "--out", str(out), *limit, *extra]
            started = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            seconds = time.perf_counter() - started
            results = pd.read_csv(out / "results.csv")
            rows.append({"configuration": name, "pairs": len(results), "wall s": seconds,
                         "mean s / pair": results["seconds"].mean(), "mean Dice": results["dice_mean"].mean()})
    table = pd.DataFrame(rows).set_index("configuration")
    for executor in ("local", "dask LocalCluster"):
        one, two = table.at[f"{executor}, 1 worker", "wall s"], table.at[f"{executor}, 2 workers", "wall s"]
        table.loc[f"{executor}, 2 workers", "speed-up"] = one / two
    print(table.to_markdown(floatfmt=".4g"))


if __name__ == "__main__":
    main()
