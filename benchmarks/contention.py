"""How much a busy neighbour slows a method's timed registrations, and which OpenMP
setting avoids it: regbench's own run, timed idle and beside one CPU-bound process.

For each setting, ``regbench run`` evaluates vxm1 and eca-unet (and ANTs affine) on
mni2d twice, idle and with ``python -c "while True: pass"`` running, from weights
trained once into ``--cache-dir``; the table gives the median seconds per pair, the
slowdown under load, and the share of the CPU regbench saw other processes take.

    python benchmarks/contention.py [--cache-dir DIR] [--pairs 6]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from regbench.outputs import schema

METHODS = "vxm1,eca-unet,ants-affine"
SETTINGS = {  # name -> (extra environment, extra arguments)
    "regbench's default": ({}, []),
    "OMP_WAIT_POLICY=ACTIVE (always spin)": ({"OMP_WAIT_POLICY": "ACTIVE"}, []),
    "OMP_WAIT_POLICY=PASSIVE (always sleep)": ({"OMP_WAIT_POLICY": "PASSIVE"}, []),
    "--threads 1": ({}, ["--threads", "1"]),
}


def run(out: Path, cache: Path, pairs: int, environment: dict[str, str], arguments: list[str]) -> pd.DataFrame:
    command = [sys.executable, "-m", "regbench.cli", "run", "--methods", METHODS, "--dataset", "mni2d",
               "--dataset-option", "n_subjects=40", "--max-pairs", str(pairs), "--profile", "smoke", "--seed", "0",
               "--no-progress", "--fresh", "--cache-dir", str(cache), "--out", str(out), *arguments]
    subprocess.run(command, check=True, capture_output=True, env={**os.environ, **environment})
    return pd.read_csv(out / "results.csv")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "regbench-contention")
    parser.add_argument("--pairs", type=int, default=6)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        run(Path(folder) / "train", args.cache_dir, 1, {}, [])  # trains (or finds) the weights, untimed
        for setting, (environment, arguments) in SETTINGS.items():
            idle = run(Path(folder) / "idle", args.cache_dir, args.pairs, environment, arguments)
            neighbour = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            try:
                loaded = run(Path(folder) / "loaded", args.cache_dir, args.pairs, environment, arguments)
            finally:
                neighbour.kill()
                neighbour.wait()
            for method, before in idle.groupby("method", sort=False):
                after = loaded[loaded["method"] == method]
                rows.append({"setting": setting, "method": method, "idle s/pair": before["seconds"].median(),
                             "loaded s/pair": after["seconds"].median(),
                             "slowdown": after["seconds"].median() / before["seconds"].median(),
                             "others' CPU idle": f"{schema.contention(before):.0%}",
                             "others' CPU loaded": f"{schema.contention(after):.0%}"})
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".3g"))


if __name__ == "__main__":
    main()
