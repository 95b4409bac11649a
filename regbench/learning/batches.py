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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from regbench.common.throttle import Throttle, log_line, time_left
from regbench.learning.validation import Validator
from regbench.measuring.profiling import PeakRSS
from regbench.plugin.dataset import Dataset
from regbench.plugin.training import STOP_BUDGET, STOP_CONVERGED, STOP_UNVALIDATED


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

    def preload(self, subject_ids: Sequence[str]) -> bool:
        """Load ``subject_ids`` now, while they fit (so that loading is not timed as
        training); whether all of them are in memory."""
        for subject_id in subject_ids:
            self(subject_id)
        return all(subject_id in self._images for subject_id in subject_ids)


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
        self.in_memory = self._images.preload(train_ids)  # before any step is timed
        self._order: list[int] = []

    def next_indices(self) -> tuple[list[int], list[int] | None]:
        """Indices into ``train_ids`` of the next moving images, and of their fixed
        images (None: the atlas for all)."""
        while len(self._order) < self.batch_size:  # epochs: fresh permutations of the subjects
            self._order.extend(self._rng.permutation(len(self.train_ids)).tolist())
        indices = self._order[: self.batch_size]
        del self._order[: self.batch_size]
        if self.atlas is not None:
            return indices, None
        n = len(self.train_ids)  # pairwise: each moving image meets another training subject
        return indices, [int((i + 1 + self._rng.integers(n - 1)) % n) for i in indices]

    def images(self, indices: Sequence[int]) -> np.ndarray:
        """The training images at ``indices``, stacked ``(len(indices), *spatial)``."""
        return np.stack([self._images(self.train_ids[i]) for i in indices])

    def next(self) -> tuple[np.ndarray, np.ndarray | None]:
        """The next moving images, and their fixed images (None: the atlas for all)."""
        moving, fixed = self.next_indices()
        return self.images(moving), None if fixed is None else self.images(fixed)


Step = Callable[[np.ndarray, "np.ndarray | None"], float]
"""One optimisation step on (moving, fixed) images (fixed None: the atlas); returns the loss."""


@dataclass
class StepsRun:
    """What :func:`run_steps` did: the loss per step, the seconds (validation included),
    the peak RSS in MB, the validation scores (one dict per evaluation: ``step``,
    ``val_mse``, ``val_dice``), why it stopped and the step whose weights were kept."""

    losses: list[float]
    seconds: float
    peak_rss_mb: float | None
    validation: list[dict[str, float]] = field(default_factory=list)
    stop: str = STOP_UNVALIDATED
    best_step: int | None = None


def _step_line(description: str, done: int, n_steps: int, run: StepsRun, elapsed: float) -> str:
    """A progress line for a log file: steps, the loss, the last validation Dice, time left."""
    last = run.validation[-1] if run.validation else {}
    dice = last.get("val_dice", float("nan"))
    validation = f", validation Dice {dice:.4f} at step {last['step']}" if dice == dice and last else ""
    return (f"{description}: step {done}/{n_steps}, loss {run.losses[-1]:.4g}{validation}, {elapsed:.0f} s, "
            f"{time_left(elapsed, done, n_steps)} at most")


def run_steps(step: Step, batches: TrainingBatches | Callable[[], tuple], n_steps: int, *, progress: bool = False,
              description: str = "train", synchronize: Callable[[], object] = lambda: None,
              validator: Validator | None = None, log_every: float | None = None) -> StepsRun:
    """Run ``step`` on at most ``n_steps`` batches (``batches.next()``, or what
    ``batches()`` returns: e.g. tensors already on the device) with the loss in a progress bar
    or, with ``log_every`` (seconds), a line at most that often for a log file. With a
    ``validator``, score the held-out subjects every ``validator.every`` steps and after
    the last, keep the best weights, stop early once converged if asked, and end with the
    best weights in place."""
    run = StepsRun(losses=[], seconds=0.0, peak_rss_mb=None)
    bar = tqdm(range(n_steps), desc=description, unit="step", disable=not progress, leave=False)
    lines = Throttle(log_every) if log_every is not None else None
    with PeakRSS() as rss:
        started = time.perf_counter()
        draw = batches.next if isinstance(batches, TrainingBatches) else batches
        for index in bar:
            run.losses.append(step(*draw()))
            bar.set_postfix(loss=f"{run.losses[-1]:.4g}")
            done = index + 1
            if validator is not None and (done % validator.every == 0 or done == n_steps):
                scores = validator.validation.score(validator.predict)
                run.validation.append({"step": done, **scores})
                if validator.convergence.update(validator.validation.criterion(scores)):
                    validator.keep_best()
                    run.best_step = done
                if validator.stop_when_converged and validator.convergence.converged:
                    break
            if lines is not None and done < n_steps and lines.due():
                log_line(_step_line(description, done, n_steps, run, lines.elapsed))
        if validator is not None:
            validator.restore_best()
            run.stop = STOP_CONVERGED if validator.convergence.converged else STOP_BUDGET
        synchronize()
        run.seconds = time.perf_counter() - started
    run.peak_rss_mb = rss.mb
    return run
