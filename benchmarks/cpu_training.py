"""How near the CPU's own limit the built-in networks train, and what each lever changes.

For vxm1, vxm2 and eca-unet on 2D 160×192 images, batch 8 (the ``quick`` profile's
step: forward, warp, MSE + diffusion, backward, Adam), the median step time and the
achieved GFLOP/s in fp32, fp32 with channels_last, bf16 autocast, bf16 with
channels_last and, unless ``--no-compile``, fp32 under ``torch.compile`` (CPU
inductor, from a fresh cache per network; its first step, which compiles, is reported
apart). Beside them, measured in the same run: the machine's own matrix-multiply peak in
fp32 and bf16 (square matrices grown while one multiply takes under 0.1 s, up to 8192²)
and its CPU features: AMX tiles decide what ``--param METHOD.precision=auto`` picks
(:func:`regbench.learning.memory.resolve_precision`).

FLOPs per step are counted once per network with ``torch.utils.flop_counter`` (forward
and backward of the network; the warp and the losses are not counted, so the GFLOP/s
are a floor). Every cell is the median of ``--steps`` steps after ``--warmup``; ``% of
peak`` is against the matrix multiply of the step's precision, and left empty for bf16
where the CPU multiplies bf16 slower than fp32 (emulated: no peak to approach).

    python benchmarks/cpu_training.py                       # the table for the README
    python benchmarks/cpu_training.py --steps 2 --warmup 1 --no-compile --shape 32,32   # a check of the script
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable

import pandas as pd
import torch
from gpu_3d import NETWORKS, time_steps, training_step
from torch.utils.flop_counter import FlopCounterMode

from regbench.learning import memory
from regbench.measuring import devices, environment

VARIANTS = (  # (label, precision, channels_last)
    ("fp32", "fp32", False),
    ("fp32 channels_last", "fp32", True),
    ("bf16", "bf16", False),
    ("bf16 channels_last", "bf16", True),
)
CPU = torch.device("cpu")  # what is timed here, whatever device regbench would pick


def cpu_features() -> dict[str, object]:
    """What the CPU offers the networks, as PyTorch sees it."""
    return {"cpu": environment.cpu_model(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "kernels": torch.backends.cpu.get_cpu_capability(), "amx_bf16": memory.has_amx(),
            "avx512_bf16": bool(memory.cpu_capabilities().get("avx512_bf16", False)),
            "precision=auto picks": memory.resolve_precision("auto", devices.pick_device())}


def _square(size: int, dtype: torch.dtype) -> torch.Tensor:
    return torch.rand(size, size).to(dtype)


def matmul_gflops(dtype: torch.dtype, largest: int = 8192, repeats: int = 5) -> tuple[float, int]:
    """The best GFLOP/s of a square matrix multiply in ``dtype`` over ``repeats``, and its
    size: doubled from 256 while one multiply takes under 0.1 s, up to ``largest`` (an
    emulated bf16 multiply is a hundred times slower than fp32, an AMX one several
    times faster)."""
    size = 256
    while size < largest and _seconds(lambda: _square(size, dtype) @ _square(size, dtype)) < 0.1:
        size *= 2
    a, b = _square(size, dtype), _square(size, dtype)
    a @ b  # warm-up
    best = min(_seconds(lambda: a @ b) for _ in range(repeats))
    return 2 * size**3 / best / 1e9, size


def _seconds(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def step_flops(network: torch.nn.Module, shape: tuple[int, ...], batch: int) -> int:
    """Floating-point operations of one training step (the network's forward and backward)."""
    step = training_step(network, shape, batch, "fp32", CPU)
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def network_for(name: str, channels_last: bool) -> torch.nn.Module:
    """A freshly initialised ``name`` network (seed 0) for 2D images, in training mode."""
    torch.manual_seed(0)
    network = NETWORKS[name]().build_network(2).train()
    return network.to(memory_format=torch.channels_last) if channels_last else network


def measure(name: str, shape: tuple[int, ...], batch: int, steps: int, warmup: int, compile_too: bool,
            peaks: dict[str, float]) -> list[dict[str, object]]:
    """One row per variant of ``name``: median ms per step, GFLOP/s and share of the peak."""
    flops = step_flops(network_for(name, False), shape, batch)
    rows = []
    variants = [*VARIANTS, ("fp32 torch.compile", "fp32", False)] if compile_too else list(VARIANTS)
    for label, precision, channels_last in variants:
        network = network_for(name, channels_last)
        first_step_s = None
        if "compile" in label:
            torch._dynamo.reset()  # nothing compiled for an earlier network is reused
            network = torch.compile(network)
            first_step_s = _seconds(training_step(network, shape, batch, precision, CPU))  # compiles
        ms = time_steps(training_step(network, shape, batch, precision, CPU), CPU, steps, warmup)
        gflops = flops / ms / 1e6
        native = precision == "fp32" or peaks["bf16"] > peaks["fp32"]
        share = round(100 * gflops / peaks[precision], 1) if native else None
        rows.append({"network": name, "variant": label, "GFLOP/step": round(flops / 1e9, 1), "ms": ms,
                     "GFLOP/s": round(gflops), "% of peak": share,
                     "first step s (compiles)": None if first_step_s is None else round(first_step_s)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="160,192", help="2D image shape (default 160,192: mni2d's)")
    parser.add_argument("--batch", type=int, default=8, help="images per step (default 8, the quick profile's)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per cell (default 5)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    parser.add_argument("--networks", default=",".join(NETWORKS), help="networks joined by commas")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile (its build takes minutes)")
    args = parser.parse_args()
    shape = tuple(int(size) for size in args.shape.split(","))
    if len(shape) != 2:
        parser.error(f"--shape takes two sizes (the networks are timed in 2D), got {args.shape!r}")
    unknown = set(args.networks.split(",")) - set(NETWORKS)
    if unknown:
        parser.error(f"--networks: unknown {', '.join(sorted(unknown))}; choose from {', '.join(NETWORKS)}")
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", tempfile.mkdtemp(prefix="inductor-"))  # compiled afresh
    for key, value in cpu_features().items():
        print(f"{key}: {value}")
    peaks = {}
    for precision, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        peaks[precision], size = matmul_gflops(dtype)
        print(f"matmul peak, {precision}: {peaks[precision]:.3g} GFLOP/s ({size}² matrices)", flush=True)
    rows = []
    for name in args.networks.split(","):
        rows += measure(name, shape, args.batch, args.steps, args.warmup, not args.no_compile, peaks)
        timings = (f"{row['variant']} {row['ms']:.0f} ms" for row in rows if row["network"] == name)
        print(f"{name}: {', '.join(timings)}", flush=True)
    table = pd.DataFrame(rows)
    fp32_ms = table[table["variant"] == "fp32"].set_index("network")["ms"]
    table["speed-up"] = (table["network"].map(fp32_ms) / table["ms"]).round(2)
    table["ms"] = table["ms"].round()
    print(table.rename(columns={"ms": "ms/step"}).to_markdown(index=False))


if __name__ == "__main__":
    main()
