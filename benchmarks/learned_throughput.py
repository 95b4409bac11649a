"""Training and inference throughput of the learned methods, on the device regbench picks.

Trains vxm1, vxm2 and eca-unet for a few epochs of the ``paper`` profile (batch 8,
Adam 1e-4) on mni2d's 160x192 slices through regbench's own trainer, then registers
test pairs one at a time as ``regbench run`` does. Prints training pairs/s,
inference ms/pair and peak CUDA memory; run it on a GPU machine and on the CPU to
put the two side by side.

    python benchmarks/learned_throughput.py                 # 3 epochs (GPU)
    python benchmarks/learned_throughput.py --steps 20      # a CPU-sized run
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time

import pandas as pd
from regbench_datasets.mni2d import Mni2d
from regbench_methods.eca_unet import EcaUNetMethod
from regbench_methods.vxm import Vxm1, Vxm2

from regbench.plugin import training as profiles
from regbench.measuring import devices
from regbench.plugin.method import TrainingContext

METHODS = (Vxm1, Vxm2, EcaUNetMethod)


def measure(method_class, dataset, profile_name: str, pairs: int, cache_dir: str) -> dict[str, object]:
    method = method_class(seed=0)
    context = TrainingContext(dataset=dataset, train_ids=dataset.train_ids,
                              profile=profiles.PROFILES[profile_name], cache_dir=cache_dir)
    method.prepare(context)
    report = method.training
    atlas = dataset.load(dataset.atlas_id)
    movings = [dataset.load(subject_id).image for subject_id in dataset.test_ids[:pairs]]
    method.register(atlas.image, movings[0])  # warm-up
    devices.reset_peak_memory(method.device_type)
    times = []
    for moving in movings:
        started = time.perf_counter()
        method.register(atlas.image, moving)
        devices.synchronize(method.device_type)
        times.append(time.perf_counter() - started)
    batch = profiles.PROFILES[profile_name].batch_size
    return {
        "method": method.name,
        "device": method.device,
        "train steps": report.steps,
        "train s": round(report.seconds, 2),
        "train pairs/s": round(report.steps * batch / report.seconds, 1),
        "train peak CUDA MiB": report.peak_cuda_mb,
        "inference ms/pair (median)": round(1000 * statistics.median(times), 2),
        "inference peak CUDA MiB": devices.peak_memory_mb(method.device_type),
        "parameters": method.parameter_count,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs of the paper profile (default 3)")
    parser.add_argument("--steps", type=int, default=None, help="train this many steps instead of epochs")
    parser.add_argument("--pairs", type=int, default=20, help="test pairs timed for inference")
    args = parser.parse_args()
    paper = profiles.PROFILES["paper"]
    length = {"epochs": None, "steps": args.steps} if args.steps else {"epochs": args.epochs, "steps": None}
    profiles.PROFILES["throughput"] = dataclasses.replace(paper, name="throughput", **length)
    dataset = Mni2d()
    with tempfile.TemporaryDirectory() as cache_dir:
        rows = [measure(method, dataset, "throughput", args.pairs, cache_dir) for method in METHODS]
    print(pd.DataFrame(rows).to_markdown(index=False))


if __name__ == "__main__":
    main()
