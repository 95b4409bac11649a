"""On a GPU machine: learned methods in CUDA worker processes, a run killed with
SIGKILL mid-way and resumed, and a run on two workers sharing the GPU, each compared
with an uninterrupted run.

    python benchmarks/gpu_resume_check.py --out FOLDER

All runs share one weight cache (trained by the first), so the comparisons check
resuming and sharing, not the run-to-run variation of CUDA training. Prints, and writes to
FOLDER/gpu_resume_check.json: the device, seconds of each run, training seconds and
seconds per pair per method, whether workers (and their GPU memory) outlived the
kill, how many results the resumed run reused, and the largest Dice difference.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import torch

METHODS = "identity,vxm1,vxm2,eca-unet"
KILL_AFTER = ("vxm2", 5)  # SIGKILL once this many vxm2 results are stored


def command(out: Path, cache: Path) -> list[str]:
    return [sys.executable, "-m", "regbench.cli", "run", "--methods", METHODS, "--dataset", "mni2d",
            "--dataset-option", "n_subjects=100", "--profile", "quick", "--no-progress",
            "--cache-dir", str(cache), "--out", str(out)]


def gpu_processes() -> list[str]:
    listed = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader"],
                            capture_output=True, text=True, check=False)
    return [line for line in listed.stdout.splitlines() if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    folder = parser.parse_args().out
    cache = folder / "cache"
    summary: dict[str, object] = {"device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"}

    started = time.perf_counter()
    subprocess.run(command(folder / "uninterrupted", cache), check=True)
    summary["uninterrupted_seconds"] = round(time.perf_counter() - started, 1)

    resumed = folder / "resumed"
    process = subprocess.Popen(command(resumed, cache))
    method, count = KILL_AFTER
    while len(list((resumed / "progress").glob(f"{method}-*/*-*.json"))) < count:
        if process.poll() is not None:
            raise SystemExit("the run ended before it could be killed")
        time.sleep(0.05)
    workers = psutil.Process(process.pid).children(recursive=True)
    process.send_signal(signal.SIGKILL)
    process.wait()
    _, alive = psutil.wait_procs(workers, timeout=15)
    summary["workers_at_kill"] = len(workers)
    summary["workers_alive_after_kill"] = len(alive)
    summary["gpu_processes_after_kill"] = gpu_processes()
    stored = len(list((resumed / "progress").rglob("*-*.json")))

    started = time.perf_counter()
    finished = subprocess.run(command(resumed, cache), check=True, capture_output=True, text=True)
    summary["resume_seconds"] = round(time.perf_counter() - started, 1)
    summary["stored_before_resume"] = stored
    summary["resume_says"] = [line for line in finished.stdout.splitlines() if "reused" in line]

    started = time.perf_counter()
    subprocess.run([*command(folder / "two-workers", cache), "--workers", "2"], check=True, capture_output=True)
    summary["two_workers_seconds"] = round(time.perf_counter() - started, 1)

    def table(name: str) -> pd.DataFrame:
        return pd.read_csv(folder / name / "results.csv").set_index(["method", "pair"]).sort_index()

    first = table("uninterrupted")
    for name in ("resumed", "two-workers"):
        other = table(name)
        summary[f"{name}_same_rows"] = first.index.equals(other.index)
        summary[f"{name}_all_ok"] = bool((other["status"] == "ok").all())
        summary[f"{name}_max_dice_difference"] = float((first["dice_mean"] - other["dice_mean"]).abs().max())
    per_method = first.groupby("method").agg(device=("device", "first"), train_seconds=("train_seconds", "first"),
                                             seconds_per_pair=("seconds", "mean"),
                                             peak_cuda_mb=("peak_cuda_mb", "max"), dice=("dice_mean", "mean"))
    summary["methods"] = per_method.round(4).reset_index().to_dict(orient="records")
    text = json.dumps(summary, indent=2, default=str)
    print(text)
    (folder / "gpu_resume_check.json").write_text(text)


if __name__ == "__main__":
    main()
