"""The training data every trainer draws, as plain numpy batches, and the loop that
feeds them to a framework's training step.

Unsupervised and atlas-based, as in the reference paper: each batch holds moving
images from the training subjects, drawn epoch by epoch in a seeded order, and the
fixed image is the dataset's atlas; a dataset without atlas pairs each moving image
with another training subject drawn at random. Kept free of any framework, so the
PyTorch trainer and the Keras one see the very same batches.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from tqdm.auto import tqdm

from regbench.measuring.profiling import PeakRSS
from regbench.plugin.dataset import Dataset


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


class TrainingBatches:
    """Batches of (moving, fixed) float32 images of shape ``(batch_size, *spatial)``."""

    def __init__(self, dataset: Dataset, train_ids: tuple[str, ...], batch_size: int, seed: int) -> None:
        if len(train_ids) < (1 if dataset.atlas_id is not None else 2):
            raise ValueError(f"dataset {dataset.name!r} has too few training subjects ({len(train_ids)}) to train on")
        self.train_ids = train_ids
        self.batch_size = batch_size
        self.atlas = dataset.load(dataset.atlas_id).image if dataset.atlas_id is not None else None
        self._rng = np.random.default_rng(seed)
        self._images = _ImageCache(dataset)
        self._order: list[int] = []

    def next(self) -> tuple[np.ndarray, np.ndarray | None]:
        """The next moving images, and their fixed images (None: the atlas for all)."""
        while len(self._order) < self.batch_size:  # epochs: fresh permutations of the subjects
            self._order.extend(self._rng.permutation(len(self.train_ids)).tolist())
        indices = self._order[: self.batch_size]
        del self._order[: self.batch_size]
        moving = np.stack([self._images(self.train_ids[i]) for i in indices])
        if self.atlas is not None:
            return moving, None
        n = len(self.train_ids)  # pairwise: each moving image meets another training subject
        partners = [(i + 1 + self._rng.integers(n - 1)) % n for i in indices]
        return moving, np.stack([self._images(self.train_ids[i]) for i in partners])


Step = Callable[[np.ndarray, "np.ndarray | None"], float]
"""One optimisation step on (moving, fixed) images (fixed None: the atlas); returns the loss."""


def run_steps(step: Step, batches: TrainingBatches, n_steps: int, *, progress: bool = False,
              description: str = "train", synchronize: Callable[[], object] = lambda: None,
              ) -> tuple[list[float], float, float | None]:
    """Run ``step`` on ``n_steps`` batches with the loss in a progress bar; returns the
    losses, the seconds (after ``synchronize``, for accelerators) and the peak RSS in MB."""
    losses: list[float] = []
    bar = tqdm(range(n_steps), desc=description, unit="step", disable=not progress, leave=False)
    with PeakRSS() as rss:
        started = time.perf_counter()
        for _ in bar:
            losses.append(step(*batches.next()))
            bar.set_postfix(loss=f"{losses[-1]:.4g}")
        synchronize()
        seconds = time.perf_counter() - started
    return losses, seconds, rss.mb
