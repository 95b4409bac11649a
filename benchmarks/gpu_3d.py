"""Training step time and peak memory of the built-in networks at real 3D sizes, and
what mixed precision, activation checkpointing, device-resident images and
``torch.compile`` change. Prepared for a GPU; ``--small`` runs the same grid at toy
sizes on any device, to check the script itself.

    python benchmarks/gpu_3d.py                 # on a GPU: 160×192×160 and 160×224×192, batch 1 and 8
    python benchmarks/gpu_3d.py --small         # a CPU check of the script

Every 3D cell is one network at one size, batch, precision and checkpointing setting:
``--steps`` timed training steps (after ``--warmup``) on random volumes, the median step
in ms and the peak CUDA memory (``max_memory_allocated``; not measured on a CPU, where
the process's RSS cannot single out one cell), or the out-of-memory message regbench gives. The 2D part times the trainer's
own steps on 160×192 images, batch 8, with the images copied from the host per step
and kept on the device, and, on a GPU, eager against ``torch.compile`` for eca-unet
(regbench compiles nothing unless that gives at least 1.5×). Last, seconds per 2D and 3D
pair of FireANTs on the device beside ANTs SyN on the CPU (``--no-classical`` skips it).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from regbench_datasets.synthetic import Synthetic
from regbench_methods.eca_unet import EcaUNetMethod
from regbench_methods.vxm import Vxm1, Vxm2

from regbench.learning import memory, trainer
from regbench.measuring import devices
from regbench.plugin.training import Profile

NETWORKS = {"vxm1": Vxm1, "vxm2": Vxm2, "eca-unet": EcaUNetMethod}
SIZES = {"full": [(160, 192, 160), (160, 224, 192)], "small": [(32, 32, 32), (32, 48, 32)]}
BATCHES = {"full": [1, 8], "small": [1, 2]}


def _sync(device: torch.device) -> None:
    devices.synchronize(device)


def time_steps(step: Callable[[], object], device: torch.device, steps: int, warmup: int) -> float:
    """The median milliseconds of ``step`` over ``steps`` calls, after ``warmup`` calls."""
    for _ in range(warmup):
        step()
    _sync(device)
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        step()
        _sync(device)
        times.append(1000 * (time.perf_counter() - started))
    return statistics.median(times)


def training_step(network: torch.nn.Module, shape: tuple[int, ...], batch: int, precision: str,
                  device: torch.device) -> Callable[[], float]:
    """One unsupervised training step of ``network`` on random images, the trainer's own."""
    optimisation = trainer.Optimisation(network, similarity="mse", reg_weight=0.01, lr=1e-4, device=device,
                                        precision=precision)
    moving = torch.rand(batch, 1, *shape, device=device)
    fixed = torch.rand(1, 1, *shape, device=device).expand(batch, 1, *shape)
    return lambda: optimisation.step(moving, fixed)


def measure_3d(name: str, shape: tuple[int, ...], batch: int, precision: str, checkpointing: bool,
               device: torch.device, steps: int, warmup: int) -> dict[str, object]:
    cell: dict[str, object] = {"network": name, "shape": "×".join(map(str, shape)), "batch": batch,
                               "precision": precision, "checkpointing": checkpointing}
    network = NETWORKS[name]().build_network(len(shape)).to(device).train()
    if checkpointing:
        memory.use_checkpointing(memory.checkpoint_blocks(network))
    devices.reset_peak_memory(device)
    try:
        with memory.reported_as_out_of_memory(doing=f"training {name}", device=device, reduce_with=["a smaller batch"]):
            cell["ms_per_step"] = round(time_steps(training_step(network, shape, batch, precision, device),
                                                   device, steps, warmup), 2)
        peak = devices.peak_memory_mb(device)  # None on a CPU: a process's RSS cannot single out one cell's peak
        cell["peak_mb"] = round(peak, 1) if peak is not None else None
    except memory.OutOfMemory as error:
        cell["ms_per_step"], cell["peak_mb"], cell["error"] = None, None, str(error)
    del network
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return cell


def measure_2d(device: torch.device, small: bool, steps: int) -> list[dict[str, object]]:
    """The trainer's own step time on 2D images, per network: images copied per step
    against kept on the device; and eca-unet eager against torch.compile."""
    shape = (32, 32) if small else (160, 192)
    dataset = Synthetic(shape=shape, n_subjects=24 if small else 96)
    profile = Profile("bench", batch_size=8, lr=1e-4, steps=steps, validation_fraction=0)
    rows = []
    for name, cls in NETWORKS.items():
        for resident in (False, True):
            torch.manual_seed(0)
            network = cls().build_network(2).to(device)
            report = trainer.train(network, dataset, dataset.train_ids, profile=profile, reg_weight=0.01,
                                   device=device, resident=resident)
            rows.append({"network": name, "2D": "×".join(map(str, shape)), "images": "on device" if resident
                         else "copied per step", "ms_per_step": round(1000 * report.seconds / report.steps, 2)})
    if device.type != "cuda":  # inductor's C++ build on a CPU takes minutes and answers nothing asked here
        return rows
    network = EcaUNetMethod().build_network(2).to(device).train()
    eager = time_steps(training_step(network, shape, 8, "fp32", device), device, steps, warmup=5)
    compiled_network = torch.compile(network)
    compiled = time_steps(training_step(compiled_network, shape, 8, "fp32", device), device, steps, warmup=5)
    rows.append({"network": "eca-unet", "2D": "×".join(map(str, shape)), "images": "random, eager",
                 "ms_per_step": round(eager, 2)})
    rows.append({"network": "eca-unet", "2D": "×".join(map(str, shape)), "images": "random, torch.compile",
                 "ms_per_step": round(compiled, 2), "speed-up": round(eager / compiled, 2)})
    return rows


def measure_classical(small: bool) -> list[dict[str, object]]:
    """Seconds per pair of FireANTs (on the GPU when there is one) beside ANTs SyN (CPU,
    one ITK thread, as regbench runs it), on one 2D and one 3D synthetic pair, each the
    fastest of two registrations. The 3D pair is 96×112×96: ANTs SyN on a full-size
    volume takes longer than a lent GPU's time allows."""
    from regbench_methods.ants import AntsSyN  # noqa: PLC0415
    from regbench_methods.fireants import FireANTs  # noqa: PLC0415

    rows = []
    for shape in ((32, 32), (32, 32, 32)) if small else ((160, 192), (96, 112, 96)):  # FireANTs: 32 at least
        dataset = Synthetic(shape=shape, n_subjects=6)
        fixed, moving = dataset.load(dataset.atlas_id).image, dataset.load(dataset.test_ids[0]).image
        methods = {"fireants": FireANTs(**({"affine_iterations": (5, 5, 5, 5), "iterations": (5, 5, 5)} if small
                                           else {})), "ants-syn": AntsSyN()}
        for name, method in methods.items():
            seconds = []
            for _ in range(2):
                start = time.perf_counter()
                method.register(fixed, moving)
                method.synchronize()
                seconds.append(time.perf_counter() - start)
            rows.append({"method": name, "device": method.device, "pair": "×".join(map(str, shape)),
                         "seconds_per_pair": round(min(seconds), 3)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="toy sizes: check the script on any device")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per cell (default 10)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
    parser.add_argument("--networks", default=",".join(NETWORKS), help="networks joined by commas")
    parser.add_argument("--no-2d", action="store_true", help="skip the 2D part")
    parser.add_argument("--no-classical", action="store_true", help="skip FireANTs and ANTs SyN seconds per pair")
    parser.add_argument("--out", type=Path, default=None, help="also write the cells as JSON here")
    args = parser.parse_args()
    device = devices.pick_device()
    grid = "small" if args.small else "full"
    print(f"device: {devices.device_name(device)}")
    cells = []
    for name in args.networks.split(","):
        for shape in SIZES[grid]:
            for batch in BATCHES[grid]:
                for precision, checkpointing in (("fp32", False), ("bf16", False), ("fp32", True), ("bf16", True)):
                    cell = measure_3d(name, shape, batch, precision, checkpointing, device, args.steps, args.warmup)
                    cells.append(cell)
                    print(json.dumps(cell), flush=True)
    rows = [] if args.no_2d else measure_2d(device, args.small, max(args.steps, 20))
    for row in rows:
        print(json.dumps(row), flush=True)
    classical = [] if args.no_classical else measure_classical(args.small)
    for row in classical:
        print(json.dumps(row), flush=True)
    if args.out is not None:
        args.out.write_text(json.dumps({"device": devices.device_name(device), "3d": cells, "2d": rows,
                                        "classical": classical}, indent=1))


if __name__ == "__main__":
    main()
