"""The one trainer every learning-based method uses.

Training is unsupervised and atlas-based, as in the reference paper: every training
subject is a moving image registered to the dataset's atlas, and the loss is
``similarity(atlas, warped) + reg_weight * diffusion(u)``. Sharing this loop means
that differences between learned methods come from their networks alone.

The loss pieces are neurite's (``MSE``, ``NCC``, ``SpatialGradient``, as VoxelMorph
uses them); the warp is regbench's own (:mod:`regbench.measuring.warp`), the same one that
scores every method.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from regbench.learning import memory
from regbench.learning.batches import TrainingBatches, run_steps
from regbench.learning.validation import make_validator
from regbench.learning.weights import TrainingReport
from regbench.measuring import devices
from regbench.measuring.warp import warp_tensor
from regbench.plugin.dataset import Dataset
from regbench.plugin.training import Profile

# σ of the diffusion term recommended by VoxelMorph for each similarity.
DEFAULT_REG_WEIGHT = {"mse": 0.01, "ncc": 1.0}


def similarity_loss(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``mse`` or ``ncc`` (window 9) as a loss to minimise."""
    import neurite as ne  # noqa: PLC0415 - an optional dependency of the learning extra

    if name == "mse":
        return ne.nn.modules.MSE()
    if name == "ncc":
        ncc = ne.nn.modules.NCC(window_size=9)
        return lambda fixed, warped: -ncc(fixed, warped).mean()
    raise ValueError(f"unknown similarity {name!r}; expected 'mse' or 'ncc'")


def diffusion_loss() -> Callable[[torch.Tensor], torch.Tensor]:
    """Mean squared forward differences of the field, averaged over axes (VoxelMorph's ``Grad('l2')``)."""
    import neurite as ne  # noqa: PLC0415

    return ne.nn.modules.SpatialGradient(penalty="l2")


class Optimisation:
    """The shared loss and one optimisation step of ``network`` (Adam at ``lr``), the
    network in ``precision`` (:mod:`regbench.learning.memory`): what the trainer repeats
    and what ``benchmarks/gpu_3d.py`` times."""

    def __init__(self, network: nn.Module, *, similarity: str, reg_weight: float, lr: float, device: torch.device,
                 precision: str = "fp32") -> None:
        self.network, self.reg_weight, self.device, self.precision = network, reg_weight, device, precision
        self.similarity, self.smoothness = similarity_loss(similarity), diffusion_loss()
        self.optimizer = torch.optim.Adam(network.parameters(), lr=lr)
        self.scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")

    def loss(self, moving: torch.Tensor, fixed: torch.Tensor) -> torch.Tensor:
        """similarity(fixed, warped) + reg_weight · diffusion(u); the field in float32."""
        with memory.autocast(self.device, self.precision):
            displacement = self.network(moving, fixed)
        displacement = displacement.float()
        return (self.similarity(fixed, warp_tensor(moving, displacement))
                + self.reg_weight * self.smoothness(displacement))

    def step(self, moving: torch.Tensor, fixed: torch.Tensor) -> float:
        """One step; the loss before it."""
        loss = self.loss(moving, fixed)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return float(loss.detach())

    def preflight(self, moving: torch.Tensor, fixed: torch.Tensor) -> None:
        """One forward and backward pass, as a step takes, leaving the weights and the
        optimiser as they were: whether a step of this size fits."""
        kept = {key: value.detach().clone() for key, value in self.network.state_dict().items()}
        self.loss(moving, fixed).backward()
        self.optimizer.zero_grad(set_to_none=True)
        self.network.load_state_dict(kept)


def _resident(batches: TrainingBatches, device: torch.device, resident: bool | None) -> torch.Tensor | None:
    """Every training image as one ``(N, 1, *spatial)`` tensor on ``device``, so that a
    step gathers its batch there instead of copying it from the host; None to copy per
    step. ``resident=None`` decides: on a GPU, when the images are all in host memory and
    take at most a quarter of the GPU's free memory."""
    if resident is None:
        if device.type != "cuda" or not batches.in_memory:
            return None
        nbytes = batches.images([0]).nbytes * len(batches.train_ids)  # the images share one shape
        resident = nbytes <= torch.cuda.mem_get_info(device)[0] / 4
    if not resident:
        return None
    return torch.from_numpy(batches.images(range(len(batches.train_ids))))[:, None].to(device)


def train(
    network: nn.Module,
    dataset: Dataset,
    train_ids: tuple[str, ...],
    *,
    validation_ids: tuple[str, ...] = (),
    profile: Profile,
    similarity: str = "mse",
    reg_weight: float,
    seed: int = 0,
    device: torch.device,
    precision: str = "fp32",
    resident: bool | None = None,
    progress: bool = False,
    description: str = "train",
    reduce_with: Sequence[str] = (),
) -> TrainingReport:
    """Train ``network`` (``(moving, fixed) -> displacement``) on moving images from
    ``train_ids`` registered to the dataset's atlas, or, for a dataset without atlas,
    to another training subject drawn at random; validate on ``validation_ids`` as the
    profile says (:mod:`regbench.learning.validation`) and end with the best weights.

    The network runs in ``precision`` (:mod:`regbench.learning.memory`); the batch is the
    profile's for the data's dimensionality. One preflight step at that batch (weights and
    optimiser untouched) tells before the long run whether it fits; an out-of-memory
    error, there or later, is an :class:`~regbench.learning.memory.OutOfMemory` naming
    the settings that reduce it (the batch, and ``reduce_with``: the method's own)."""
    ndim = len(dataset.spacing)
    batch_size = profile.batch_for(ndim)
    batches = TrainingBatches(dataset, train_ids, batch_size, seed)
    images = _resident(batches, device, resident)
    to_device = lambda array: torch.from_numpy(array)[:, None].to(device)  # noqa: E731
    atlas_batch = None
    if batches.atlas is not None:  # on the device once, not with every batch
        atlas = torch.from_numpy(batches.atlas)[None, None].to(device)
        atlas_batch = atlas.expand(batch_size, *atlas.shape[1:])

    def gather(indices: Sequence[int]) -> torch.Tensor:
        return images[list(indices)] if images is not None else to_device(batches.images(indices))

    def draw() -> tuple[torch.Tensor, torch.Tensor]:
        moving, fixed = batches.next_indices()
        return gather(moving), atlas_batch if fixed is None else gather(fixed)

    optimisation = Optimisation(network, similarity=similarity, reg_weight=reg_weight, lr=profile.lr, device=device,
                                precision=precision)
    first = [index % len(train_ids) for index in range(batch_size)]  # the preflight's full batch

    def predict(moving_images: np.ndarray, fixed_images: np.ndarray) -> np.ndarray:
        network.eval()
        with torch.inference_mode(), memory.autocast(device, precision):
            displacement = network(to_device(moving_images), to_device(fixed_images))
        network.train()
        return displacement.float().cpu().numpy()

    best: dict[str, dict[str, torch.Tensor]] = {}
    validator = make_validator(
        dataset, validation_ids, profile, predict,
        keep_best=lambda: best.update(state={k: v.detach().clone() for k, v in network.state_dict().items()}),
        restore_best=lambda: network.load_state_dict(best["state"]) if best else None)

    shape = "×".join(map(str, batches.atlas.shape if batches.atlas is not None else batches.images([0]).shape[1:]))
    batch_setting = "batch_size_3d" if ndim >= 3 else "batch_size"
    hints = [*([f"--train {batch_setting}={batch_size // 2} (now {batch_size})"] if batch_size > 1 else []),
             *reduce_with]
    network.train()
    devices.reset_peak_memory(device)
    with memory.reported_as_out_of_memory(doing=f"in {description}'s preflight step (batch {batch_size} of {shape})",
                                          device=device, reduce_with=hints):
        optimisation.preflight(gather(first), atlas_batch if atlas_batch is not None else gather(first[1:] + first[:1]))
    preflight_mb = devices.peak_memory_mb(device)
    devices.reset_peak_memory(device)
    with memory.reported_as_out_of_memory(doing=f"in {description} (batch {batch_size} of {shape})",
                                          device=device, reduce_with=hints):
        run = run_steps(optimisation.step, draw, profile.total_steps(len(train_ids), ndim), progress=progress,
                        description=description, synchronize=lambda: devices.synchronize(device), validator=validator)
    network.eval()
    return TrainingReport(
        seconds=run.seconds,
        steps=len(run.losses),
        losses=run.losses,
        device=devices.device_name(device),
        peak_cuda_mb=devices.peak_memory_mb(device),
        peak_rss_mb=run.peak_rss_mb,
        validation=run.validation,
        stop=run.stop,
        best_step=run.best_step,
        batch_size=batch_size,
        preflight_cuda_mb=preflight_mb,
    )
