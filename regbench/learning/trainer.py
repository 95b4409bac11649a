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
from contextlib import AbstractContextManager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from regbench.learning import memory
from regbench.learning.batches import StepsRun, TrainingBatches, run_steps
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


def _to_device(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """A batch of images ``(B, *spatial)`` as the network's input ``(B, 1, *spatial)`` on ``device``."""
    return torch.from_numpy(array)[:, None].to(device)


class _DeviceBatches:
    """The training batches as tensors on the device: a step's (moving, fixed) pair, and
    the preflight's full first batch. The atlas goes to the device once, not with every
    batch; the images too when they are resident (:func:`_resident`)."""

    def __init__(self, batches: TrainingBatches, device: torch.device, resident: bool | None) -> None:
        self.batches, self.device = batches, device
        self.images = _resident(batches, device, resident)
        self.atlas: torch.Tensor | None = None
        if batches.atlas is not None:
            atlas = torch.from_numpy(batches.atlas)[None, None].to(device)
            self.atlas = atlas.expand(batches.batch_size, *atlas.shape[1:])

    def gather(self, indices: Sequence[int]) -> torch.Tensor:
        """The training images at ``indices``, from the resident tensor or copied from the host."""
        if self.images is not None:
            return self.images[list(indices)]
        return _to_device(self.batches.images(indices), self.device)

    def draw(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next step's (moving, fixed): the atlas, or another subject, as fixed."""
        moving, fixed = self.batches.next_indices()
        return self.gather(moving), self.atlas if fixed is None else self.gather(fixed)

    def first(self) -> tuple[torch.Tensor, torch.Tensor]:
        """A full batch for the preflight step, fixed on the atlas or on the next subjects."""
        first = [index % len(self.batches.train_ids) for index in range(self.batches.batch_size)]
        return self.gather(first), self.atlas if self.atlas is not None else self.gather(first[1:] + first[:1])

    def shape(self) -> str:
        """The images' shape, as an out-of-memory message names it (``160×192``)."""
        atlas = self.batches.atlas
        return "×".join(map(str, atlas.shape if atlas is not None else self.batches.images([0]).shape[1:]))


class _BestWeights:
    """A copy of the network's weights at its best validation, put back at the end."""

    def __init__(self, network: nn.Module) -> None:
        self.network = network
        self.state: dict[str, torch.Tensor] | None = None

    def keep(self) -> None:
        """Copy the weights now: a later step changes them in place."""
        self.state = {key: value.detach().clone() for key, value in self.network.state_dict().items()}

    def restore(self) -> None:
        """Put the kept weights back; nothing when validation never kept any."""
        if self.state is not None:
            self.network.load_state_dict(self.state)


@dataclass(frozen=True)
class Trainer:
    """The settings of one training run of ``network`` (``(moving, fixed) -> displacement``),
    and the run in pieces (:meth:`run`): see :func:`train`."""

    network: nn.Module
    dataset: Dataset
    train_ids: tuple[str, ...]
    profile: Profile
    reg_weight: float
    device: torch.device
    validation_ids: tuple[str, ...] = ()
    similarity: str = "mse"
    seed: int = 0
    precision: str = "fp32"
    resident: bool | None = None
    progress: bool = False
    log_every: float | None = None  # seconds between progress lines for a log file; None: none
    description: str = "train"
    reduce_with: Sequence[str] = ()

    @property
    def ndim(self) -> int:
        return len(self.dataset.spacing)

    @property
    def batch_size(self) -> int:
        return self.profile.batch_for(self.ndim)

    def run(self) -> TrainingReport:
        """Preflight, then train to the profile's budget (or convergence); end with the best weights, in eval mode."""
        feed = _DeviceBatches(TrainingBatches(self.dataset, self.train_ids, self.batch_size, self.seed), self.device,
                              self.resident)
        optimisation = Optimisation(self.network, similarity=self.similarity, reg_weight=self.reg_weight,
                                    lr=self.profile.lr, device=self.device, precision=self.precision)
        best = _BestWeights(self.network)
        validator = make_validator(self.dataset, self.validation_ids, self.profile, self.predict,
                                   keep_best=best.keep, restore_best=best.restore)
        shape = feed.shape()
        self.network.train()
        devices.reset_peak_memory(self.device)
        with self._out_of_memory(f"{self.description}'s preflight step", shape):
            optimisation.preflight(*feed.first())
        preflight_mb = devices.peak_memory_mb(self.device)
        devices.reset_peak_memory(self.device)
        with self._out_of_memory(self.description, shape):
            steps = run_steps(optimisation.step, feed.draw, self.profile.total_steps(len(self.train_ids), self.ndim),
                              progress=self.progress, log_every=self.log_every, description=self.description,
                              synchronize=lambda: devices.synchronize(self.device), validator=validator)
        self.network.eval()
        return self._report(steps, preflight_mb)

    def predict(self, moving: np.ndarray, fixed: np.ndarray) -> np.ndarray:
        """The network's displacements for held-out images (validation), without gradients."""
        self.network.eval()
        with torch.inference_mode(), memory.autocast(self.device, self.precision):
            displacement = self.network(_to_device(moving, self.device), _to_device(fixed, self.device))
        self.network.train()
        return displacement.float().cpu().numpy()

    def _out_of_memory(self, doing: str, shape: str) -> AbstractContextManager[None]:
        """Turns an out-of-memory error while ``doing`` into one naming the settings that
        reduce it: half the batch, and the method's own (``reduce_with``)."""
        setting = "batch_size_3d" if self.ndim >= 3 else "batch_size"
        halve = [f"--train {setting}={self.batch_size // 2} (now {self.batch_size})"] if self.batch_size > 1 else []
        return memory.reported_as_out_of_memory(doing=f"in {doing} (batch {self.batch_size} of {shape})",
                                                device=self.device, reduce_with=[*halve, *self.reduce_with])

    def _report(self, steps: StepsRun, preflight_mb: float | None) -> TrainingReport:
        return TrainingReport(
            seconds=steps.seconds,
            steps=len(steps.losses),
            losses=steps.losses,
            device=devices.device_name(self.device),
            peak_cuda_mb=devices.peak_memory_mb(self.device),
            peak_rss_mb=steps.peak_rss_mb,
            validation=steps.validation,
            stop=steps.stop,
            best_step=steps.best_step,
            batch_size=self.batch_size,
            preflight_cuda_mb=preflight_mb,
        )


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
    log_every: float | None = None,
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
    return Trainer(network, dataset, train_ids, profile, reg_weight, device, validation_ids=validation_ids,
                   similarity=similarity, seed=seed, precision=precision, resident=resident, progress=progress,
                   log_every=log_every, description=description, reduce_with=reduce_with).run()
