"""Shared fixtures: small seeded data, so the suite stays fast on 2 CPU cores."""

from __future__ import annotations

import numpy as np
import pytest

from regbench.data.deformations import random_smooth_field


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def smooth_field(shape: tuple[int, ...], seed: int, max_displacement: float = 4.0) -> np.ndarray:
    """A random smooth float64 field (ndim, *shape) that also reaches past the borders."""
    return random_smooth_field(shape, np.random.default_rng(seed), max_displacement, control_spacing=6).astype(np.float64)


@pytest.fixture
def markers(tmp_path, monkeypatch):
    """A folder for faulty_plugin.py's "first time only" marker files (``$FAULTY_MARKERS``)."""
    folder = tmp_path / "markers"
    folder.mkdir()
    monkeypatch.setenv("FAULTY_MARKERS", str(folder))
    return folder


# --- for the classical baselines' tests (test_dipy.py, test_elastix.py, test_fireants.py) ---


@pytest.fixture(scope="module", params=["2d", "3d"])
def registration_pair(request):
    """(labels, fixed subject, moving subject): an mni2d slice and its atlas, or a small
    synthetic 3D volume and its atlas."""
    from regbench_datasets.mni2d import Mni2d  # noqa: PLC0415
    from regbench_datasets.synthetic import Synthetic  # noqa: PLC0415

    dataset = Mni2d(n_subjects=10) if request.param == "2d" else Synthetic(shape=(40, 40, 40), n_subjects=6)
    return list(dataset.labels), dataset.load(dataset.atlas_id), dataset.load(dataset.test_ids[0])


def label_agreement(tool: str, labels: list[int], by_tool: np.ndarray, by_harness: np.ndarray) -> np.ndarray:
    """Dice per label between the tool's own warped labels and the harness's, printed (the
    verification figure a plugin's note quotes)."""
    from regbench.measuring.metrics import dice_per_label  # noqa: PLC0415

    dice = dice_per_label(np.asarray(by_tool).round().astype(np.int64), by_harness, labels)
    print(f"{tool}: Dice(tool's labels, harness labels) per label {np.round(dice, 4)} (mean {np.nanmean(dice):.4f})")
    return dice


def stays_put(tool: str, field: np.ndarray, subject, labels: list[int]) -> float:
    """A field that registered ``subject``'s image onto itself: the mean |u| over its
    labels (printed, with the maximum), after checking its labels come back (Dice > 0.98)."""
    from regbench.measuring.metrics import dice_per_label  # noqa: PLC0415
    from regbench.measuring.warp import warp_labels  # noqa: PLC0415

    motion = np.sqrt((field**2).sum(0))[subject.seg > 0]
    print(f"{tool} onto itself: |u| over the labels mean {motion.mean():.3f}, max {motion.max():.3f} voxels")
    assert np.nanmin(dice_per_label(subject.seg, warp_labels(subject.seg, field), labels)) > 0.98
    return float(motion.mean())


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """A private temp folder, and the working folder moved next to it: whatever a tool
    leaves in either is seen."""
    import tempfile  # noqa: PLC0415

    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setenv("TMPDIR", str(private))
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    monkeypatch.chdir(tmp_path)
    return private


# --- for the networks' tests (test_eca_unet.py, test_transmorph.py) ---


def untrained_field(network, shape: tuple[int, ...]) -> float:
    """The largest |u| an untrained network gives for random images of ``shape`` (a batch
    of two, seeded), after checking the field has the input's shape."""
    import torch  # noqa: PLC0415

    torch.manual_seed(0)
    with torch.no_grad():  # a forward pass only: no graph to keep, nor to warn about when read as a number
        field = network(torch.rand(2, 1, *shape), torch.rand(2, 1, *shape))
    assert field.shape == (2, len(shape), *shape)
    return float(field.abs().max())


def parameters_without_gradient(network, shape: tuple[int, ...]) -> list[str]:
    """The parameters a loss on the network's field for random images of ``shape`` does not
    reach, in evaluation mode (in training mode stochastic depth may drop a block for the
    whole batch, and no gradient reaches it on that step, as intended)."""
    import torch  # noqa: PLC0415

    torch.manual_seed(0)
    network.eval()
    network(torch.rand(2, 1, *shape), torch.rand(2, 1, *shape)).square().mean().backward()
    return [name for name, p in network.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
