"""How near the CPU's own limit the built-in networks train, and what each lever changes.

For vxm1, vxm2 and eca-unet on 2D 160×192 images, batch 8 (the ``quick`` profile's
step: forward, warp, MSE + diffusion, backward, Adam), the median step time and the
achieved GFLOP/s in fp32, fp32 with channels_last, bf16 autocast, bf16 with
channels_last and, unless ``--no-compile``, fp32 under ``torch.compile`` (CPU
inductor; its build time is reported apart). Beside them, measured in the same run:
the machine's own matrix-multiply peak in fp32 and bf16 (2048² matmuls, smaller where
one would take over a second) and its CPU
features (AMX tiles, AVX-512 BF16), which decide what ``--param METHOD.precision=auto``
picks (:func:`regbench.learning.memory.resolve_precision`).

FLOPs per step are counted once per network with ``torch.utils.flop_counter`` (forward
and backward of the network; the warp and the losses are not counted, so the GFLOP/s
are a floor). Every cell is the median of ``--steps`` steps after ``--warmup``.

    python benchmarks/cpu_training.py                       # the table for the README
    python benchmarks/cpu_training.py --steps 2 --warmup 1 --no-compile --shape 32,32   # a check of the script
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

import pandas as pd
import torch
from gpu_3d import NETWORKS, time_steps, training_step
from torch.utils.flop_counter import FlopCounterMode

from regbench.learning import memory

VARIANTS = (  # (label, precision, channels_last)
    ("fp32", "fp32", False),
    ("fp32 channels_last", "fp32", True),
    ("bf16", "bf16", False),
    ("bf16 channels_last", "bf16", True),
)
CPU = torch.device("cpu")


def cpu_model() -> str:
    """The CPU's model name as the kernel gives it (``platform.processor()`` elsewhere)."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_features() -> dict[str, object]:
    """What the CPU offers the networks, as PyTorch sees it."""
    return {"cpu": cpu_model(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "kernels": torch.backends.cpu.get_cpu_capability(),
            "amx_tiles": memory.has_amx(), "avx512_bf16": bool(torch.cpu._is_avx512_bf16_supported()),
            "precision=auto picks": memory.resolve_precision("auto", CPU)}


def matmul_gflops(dtype: torch.dtype, largest: int = 2048, repeats: int = 5) -> tuple[float, int]:
    """The best GFLOP/s of a square matrix multiply in ``dtype`` over ``repeats``, and its
    size: ``largest``, or less where one multiply would take over a second (bf16 without
    native support is emulated, hundreds of times slower)."""
    size = 256
    def square() -> torch.Tensor:
        return torch.rand(size, size).to(dtype)

    while size < largest and _seconds(lambda: square() @ square()) < 0.1:
        size *= 2
    a, b = square(), square()
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
        build_s = None
        if "compile" in label:
            network = torch.compile(network)
            build_s = _seconds(training_step(network, shape, batch, precision, CPU))  # the first step compiles
        ms = time_steps(training_step(network, shape, batch, precision, CPU), CPU, steps, warmup)
        gflops = flops / ms / 1e6
        rows.append({"network": name, "variant": label, "GFLOP/step": round(flops / 1e9, 1), "ms/step": round(ms),
                     "GFLOP/s": round(gflops), "% of peak": round(100 * gflops / peaks[precision], 1),
                     "compile s": None if build_s is None else round(build_s)})
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
    for key, value in cpu_features().items():
        print(f"{key}: {value}")
    peaks = {}
    for precision, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        peaks[precision], size = matmul_gflops(dtype)
        print(f"matmul peak, {precision}: {peaks[precision]:.3g} GFLOP/s ({size}² matrices)", flush=True)
    rows = []
    for name in args.networks.split(","):
        rows += measure(name, shape, args.batch, args.steps, args.warmup, not args.no_compile, peaks)
        timings = (f"{row['variant']} {row['ms/step']} ms" for row in rows if row["network"] == name)
        print(f"{name}: {', '.join(timings)}", flush=True)
    table = pd.DataFrame(rows)
    fp32_ms = table[table["variant"] == "fp32"].set_index("network")["ms/step"]
    table["speed-up"] = (table["network"].map(fp32_ms) / table["ms/step"]).round(2)
    print(table.to_markdown(index=False))


if __name__ == "__main__":
    main()
