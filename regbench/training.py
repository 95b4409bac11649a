"""The one trainer every learning-based method uses.

Training is unsupervised and atlas-based, as in the reference paper: every training
subject is a moving image registered to the dataset's atlas, and the loss is
``similarity(atlas, warped) + reg_weight * diffusion(u)``. Sharing this loop means
that differences between learned methods come from their networks alone.

The loss pieces are neurite's (``MSE``, ``NCC``, ``SpatialGradient``, as VoxelMorph
uses them); the warp is regbench's own (:mod:`regbench.warp`), the same one that
scores every method.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from regbench import devices
from regbench.dataset import Dataset
from regbench.profiles import Profile
from regbench.profiling import PeakRSS
from regbench.warp import warp_tensor

# σ recommended by VoxelMorph for each similarity (DESIGN.md §3).
DEFAULT_REG_WEIGHT = {"mse": 0.01, "ncc": 1.0}


@dataclass
class TrainingReport:
    """What training produced, stored with the results."""

    seconds: float
    steps: int
    losses: list[float] = field(default_factory=list)
    device: str = "cpu"
    peak_cuda_mb: float | None = None
    peak_rss_mb: float | None = None
    cached: bool = False


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


class _ImageCache:
    """Training images kept in memory while they fit in ``max_bytes``; beyond that they
    are loaded again when drawn, so 3D datasets stream instead of filling memory."""

    def __init__(self, dataset: Dataset, max_bytes: int = 2**30) -> None:
        self.dataset = dataset
        self.max_bytes = max_bytes
        self._images: dict[str, np.ndarray] = {}
        self._bytes = 0

    def __call__(self, subject_id: str) -> np.ndarray:
        image = self._images.get(subject_id)
        if image is None:
            image = self.dataset.load(subject_id).image
            if self._bytes + image.nbytes <= self.max_bytes:
                self._images[subject_id] = image
                self._bytes += image.nbytes
        return image


def train(
    network: nn.Module,
    dataset: Dataset,
    train_ids: tuple[str, ...],
    *,
    profile: Profile,
    similarity: str = "mse",
    reg_weight: float | None = None,
    seed: int = 0,
    device: torch.device,
    progress: bool = False,
    description: str = "train",
) -> TrainingReport:
    """Train ``network`` (``(moving, fixed) -> displacement``) on moving images from
    ``train_ids`` registered to the dataset's atlas, or, for a dataset without atlas,
    to another training subject drawn at random."""
    if len(train_ids) < (1 if dataset.atlas_id is not None else 2):
        raise ValueError(f"dataset {dataset.name!r} has too few training subjects ({len(train_ids)}) to train on")
    weight = DEFAULT_REG_WEIGHT[similarity] if reg_weight is None else reg_weight
    sim, smooth = similarity_loss(similarity), diffusion_loss()
    rng = np.random.default_rng(seed)
    images = _ImageCache(dataset)
    if dataset.atlas_id is not None:
        atlas = torch.from_numpy(dataset.load(dataset.atlas_id).image)[None, None].to(device)
        atlas_batch = atlas.expand(profile.batch_size, *atlas.shape[1:])
    optimizer = torch.optim.Adam(network.parameters(), lr=profile.lr)
    n_steps = profile.total_steps(len(train_ids))

    network.train()
    devices.reset_peak_memory(device)
    losses: list[float] = []
    order: list[int] = []
    bar = tqdm(range(n_steps), desc=description, unit="step", disable=not progress, leave=False)
    with PeakRSS() as rss:
        started = time.perf_counter()
        for _ in bar:
            while len(order) < profile.batch_size:  # epochs: fresh permutations of the subjects
                order.extend(rng.permutation(len(train_ids)).tolist())
            batch_ids = [train_ids[i] for i in order[: profile.batch_size]]
            del order[: profile.batch_size]
            moving = torch.from_numpy(np.stack([images(sid) for sid in batch_ids]))[:, None].to(device)
            if dataset.atlas_id is not None:
                fixed = atlas_batch
            else:  # pairwise: each moving image meets another training subject
                partners = [train_ids[(i + 1 + rng.integers(len(train_ids) - 1)) % len(train_ids)]
                            for i in (train_ids.index(sid) for sid in batch_ids)]
                fixed = torch.from_numpy(np.stack([images(sid) for sid in partners]))[:, None].to(device)
            displacement = network(moving, fixed)
            loss = sim(fixed, warp_tensor(moving, displacement)) + weight * smooth(displacement)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
            bar.set_postfix(loss=f"{losses[-1]:.4g}")
        devices.synchronize(device)
        seconds = time.perf_counter() - started
    network.eval()
    return TrainingReport(
        seconds=seconds,
        steps=n_steps,
        losses=losses,
        device=devices.device_name(device),
        peak_cuda_mb=devices.peak_memory_mb(device),
        peak_rss_mb=rss.mb,
    )
