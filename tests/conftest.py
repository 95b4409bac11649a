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
