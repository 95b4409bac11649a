"""What lets a network fit its device, and what happens when it does not.

Two opt-in savings for the built-in networks, both per method (``--param
METHOD.precision=bf16``, ``--param METHOD.checkpointing=true``) and so in the result
key and the weights' key: mixed precision (the network runs under
``torch.autocast``; the loss and the field returned stay float32; ``precision=auto``
picks bf16 only where the CPU has AMX tiles, :func:`resolve_precision`) and activation
checkpointing (each block's activations are recomputed in the backward pass instead
of kept: the same numbers for less memory and more time).

An out-of-memory error (CUDA's, or the host's ``MemoryError``) becomes an
:class:`OutOfMemory` whose message says what was being done, the memory asked for and
available, and the settings that reduce it; the harness turns it into ``failed`` rows
for that method (training) or that pair (registering) while the rest of the run goes on.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Iterator, Mapping

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
AUTO = "auto"  # bf16 on a CPU with AMX tiles, fp32 everywhere else (resolve_precision)
OUT_OF_MEMORY: tuple[type[BaseException], ...] = (torch.cuda.OutOfMemoryError, MemoryError)


class OutOfMemory(RuntimeError):
    """A network did not fit its device; the message says how to make it fit."""


def check_precision(precision: str, device: torch.device) -> None:
    """A ValueError when ``precision`` is unknown or not available on ``device``."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("precision fp16 needs a CUDA device (its gradients are scaled there); use bf16 on a CPU")


def has_amx() -> bool:
    """Whether this CPU has AMX tiles that multiply bf16: matrix units on which bf16 autocast
    ran a 2D training step 1.9–2.6× faster than fp32 (measured by hand on an Intel CPU),
    while on an AVX2 CPU bf16 is emulated and 12–21× slower (``benchmarks/cpu_training.py``).
    CPUs with AVX-512 BF16 but no AMX are unmeasured: fp32 for them until someone measures."""
    return bool(cpu_capabilities().get("amx_bf16", False))


def cpu_capabilities() -> Mapping[str, object]:
    """The CPU's features as PyTorch detects them (``amx_bf16``, ``avx512_bf16``, ...);
    empty with a torch too old to say."""
    capabilities = getattr(torch.cpu, "get_capabilities", None)  # public in recent torch
    return capabilities() if capabilities is not None else {}


def resolve_precision(precision: str, device: torch.device) -> str:
    """``precision`` with ``auto`` made concrete for ``device``: ``bf16`` on a CPU with AMX
    tiles, ``fp32`` everywhere else (GPUs included: nothing measured says their default
    should change). Resolved before the result and weights keys are made, so that a
    machine where ``auto`` means another precision never reuses them (the machine that
    plans the run decides: with remote Dask workers, give the precision explicitly)."""
    if precision != AUTO:
        return precision
    return "bf16" if device.type == "cpu" and has_amx() else "fp32"


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[object]:
    """Mixed precision for the network's forward pass (nothing for ``fp32``)."""
    dtype = PRECISIONS[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def checkpoint_blocks(network: nn.Module) -> list[nn.Module]:
    """The blocks whose activations checkpointing recomputes: the members of the
    network's module lists and dicts, and its other children that hold parameters."""
    blocks = []
    for child in network.children():
        if isinstance(child, nn.ModuleList | nn.ModuleDict):
            blocks.extend(child.children())
        elif any(True for _ in child.parameters()):
            blocks.append(child)
    return blocks


def use_checkpointing(blocks: Iterable[nn.Module]) -> None:
    """Recompute each block's activations in the backward pass instead of keeping them
    (``torch.utils.checkpoint``, non-reentrant). The blocks keep their names, so the
    weights are those of the network without checkpointing."""
    for block in blocks:
        forward = block.forward

        def checkpointed(*args: object, _forward=forward, **kwargs: object) -> object:
            if torch.is_grad_enabled():
                return checkpoint(_forward, *args, use_reentrant=False, **kwargs)
            return _forward(*args, **kwargs)

        block.forward = checkpointed


def _available(device: torch.device) -> str:
    """Free and total memory of ``device``, e.g. ``512 MiB free of 81,559 MiB``."""
    if device.type == "cuda":
        free, total = torch.cuda.mem_get_info(device)
    else:
        try:
            pages, size = os.sysconf("SC_AVPHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
            free, total = pages * size, os.sysconf("SC_PHYS_PAGES") * size
        except (ValueError, OSError, AttributeError):  # not a POSIX host
            return "free memory unknown"
    return f"{free / 2**20:,.0f} MiB free of {total / 2**20:,.0f} MiB"


def out_of_memory(error: BaseException, *, doing: str, device: torch.device, reduce_with: Iterable[str]) -> OutOfMemory:
    """An :class:`OutOfMemory` for ``error``: what was being done, the memory asked for
    (as CUDA's message says it) and available, and the settings that reduce it."""
    asked = re.search(r"[Tt]ried to allocate ([\d.]+ [KMGT]?i?B)", str(error))
    if device.type == "cuda":
        torch.cuda.empty_cache()  # what the failed attempt held, so that the next pair can run
    settings = "; ".join(reduce_with)
    return OutOfMemory(f"out of memory on {device.type} {doing}: "
                       f"{f'asked for {asked.group(1)}, ' if asked else ''}{_available(device)}; "
                       f"reduce it with {settings}")


@contextlib.contextmanager
def reported_as_out_of_memory(*, doing: str, device: torch.device, reduce_with: Iterable[str]) -> Iterator[None]:
    """Turn an out-of-memory error inside the block into an :class:`OutOfMemory`."""
    try:
        yield
    except OUT_OF_MEMORY as error:
        raise out_of_memory(error, doing=doing, device=device, reduce_with=reduce_with) from None
