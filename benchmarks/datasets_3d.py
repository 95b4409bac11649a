"""3D at scale: memory while streaming a 3D dataset, and seconds per 3D pair per method.

Writes a neurite-OASIS-layout fixture of 50 subjects (96x112x128 voxels each, a 3D
synthetic anatomy), then
1. iterates ``oasis3d`` loading one subject at a time, in a fresh process (so the
   fixture's writing does not count), printing the process RSS after 10 and after 50
   subjects: streaming keeps it flat;
2. registers 3 test pairs with every installed method (learned ones trained one step:
   speed only) and prints seconds per pair.

    python benchmarks/datasets_3d.py [--subjects 50] [--shape 96,112,128]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))
from layouts import neurite_oasis  # noqa: E402
from regbench_datasets.oasis import Oasis3d  # noqa: E402

from regbench.plugin import training as profiles  # noqa: E402
from regbench.plugin.manager import collect, plugin_manager  # noqa: E402
from regbench.plugin.method import TrainingContext  # noqa: E402


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def measure_streaming(root: str) -> None:
    dataset = Oasis3d(data_dir=root)
    ids = [dataset.atlas_id, *dataset.train_ids, *dataset.test_ids]
    print(f"RSS before loading: {rss_mb():.0f} MiB")
    for count, subject_id in enumerate(ids, start=1):
        dataset.load(subject_id)
        if count in (10, len(ids)):
            print(f"RSS after loading {count} subjects one at a time: {rss_mb():.0f} MiB")


def main() -> None:
    if sys.argv[1:2] == ["--stream"]:
        measure_streaming(sys.argv[2])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=50)
    parser.add_argument("--shape", default="96,112,128")
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    shape = tuple(int(n) for n in args.shape.split(","))
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        root = neurite_oasis(Path(folder) / "oasis3d", ndim=3, n=args.subjects, shape=shape)
        print(f"wrote {args.subjects} subjects of {shape} in {time.perf_counter() - started:.0f} s")
        subprocess.run([sys.executable, __file__, "--stream", str(root)], check=True)
        dataset = Oasis3d(data_dir=str(root))

        one_step = profiles.Profile("one-step", batch_size=1, lr=1e-3, steps=1)
        context = TrainingContext(dataset=dataset, train_ids=dataset.train_ids, profile=one_step,
                                  cache_dir=Path(folder) / "cache")
        pairs = dataset.test_pairs()[: args.pairs]
        rows = []
        for entry in collect(plugin_manager()).methods.entries():
            if not entry.installed:
                continue
            method = entry.cls(seed=0)
            method.prepare(context)
            seconds = []
            for pair in pairs:
                fixed, moving = dataset.load(pair.fixed_id), dataset.load(pair.moving_id)
                started = time.perf_counter()
                method.register(fixed.image, moving.image)
                seconds.append(time.perf_counter() - started)
            rows.append({"method": entry.name, "device": method.device, "s / 3D pair (mean)": sum(seconds) / len(seconds)})
        print(f"\nseconds per 3D pair ({shape}), {len(pairs)} pairs:")
        print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
