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

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from regbench.learning.batches import TrainingBatches, run_steps
from regbench.learning.profiles import Profile
from regbench.learning.validation import make_validator
from regbench.learning.weights import TrainingReport
from regbench.measuring import devices
from regbench.measuring.warp import warp_tensor
from regbench.plugin.dataset import Dataset

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
    progress: bool = False,
    description: str = "train",
) -> TrainingReport:
    """Train ``network`` (``(moving, fixed) -> displacement``) on moving images from
    ``train_ids`` registered to the dataset's atlas, or, for a dataset without atlas,
    to another training subject drawn at random; validate on ``validation_ids`` as the
    profile says (:mod:`regbench.learning.validation`) and end with the best weights."""
    sim, smooth = similarity_loss(similarity), diffusion_loss()
    batches = TrainingBatches(dataset, train_ids, profile.batch_size, seed)
    if batches.atlas is not None:  # on the device once, not with every batch
        atlas = torch.from_numpy(batches.atlas)[None, None].to(device)
        atlas_batch = atlas.expand(profile.batch_size, *atlas.shape[1:])
    optimizer = torch.optim.Adam(network.parameters(), lr=profile.lr)
    n_steps = profile.total_steps(len(train_ids))

    def step(moving_images: np.ndarray, fixed_images: np.ndarray | None) -> float:
        moving = torch.from_numpy(moving_images)[:, None].to(device)
        fixed = atlas_batch if fixed_images is None else torch.from_numpy(fixed_images)[:, None].to(device)
        displacement = network(moving, fixed)
        loss = sim(fixed, warp_tensor(moving, displacement)) + reg_weight * smooth(displacement)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    def predict(moving_images: np.ndarray, fixed_images: np.ndarray) -> np.ndarray:
        network.eval()
        with torch.inference_mode():
            to_batch = lambda images: torch.from_numpy(images)[:, None].to(device)  # noqa: E731
            displacement = network(to_batch(moving_images), to_batch(fixed_images))
        network.train()
        return displacement.float().cpu().numpy()

    best: dict[str, dict[str, torch.Tensor]] = {}
    validator = make_validator(
        dataset, validation_ids, profile, predict,
        keep_best=lambda: best.update(state={k: v.detach().clone() for k, v in network.state_dict().items()}),
        restore_best=lambda: network.load_state_dict(best["state"]) if best else None)

    network.train()
    devices.reset_peak_memory(device)
    run = run_steps(step, batches, n_steps, progress=progress, description=description,
                    synchronize=lambda: devices.synchronize(device), validator=validator)
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
    )
