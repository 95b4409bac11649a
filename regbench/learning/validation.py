"""Held-out training subjects that say when a network has finished learning.

A share of the training subjects (:attr:`Profile.validation_fraction`, at least 2) is
set aside, seeded, and never trained on; test subjects are never among them, since
they come from the training subjects. Every :attr:`Profile.validate_every` steps the
network registers each of them to the atlas (or, without an atlas, to the next
held-out subject) and is scored: mean Dice over labels where the dataset has labels,
else the image MSE. :class:`Convergence` reads those scores; the trainers keep the
weights of the best one. Framework-free: a trainer supplies only ``predict``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from regbench.plugin.dataset import Dataset
from regbench.plugin.training import Profile

Predict = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""(moving, fixed) float32 batches ``(B, *spatial)`` -> displacements ``(B, ndim, *spatial)``."""


def split_validation(train_ids: Sequence[str], fraction: float, seed: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(training, validation)`` subjects: ``fraction`` of ``train_ids`` (at least 2, none
    when ``fraction`` is 0) held out, drawn with ``seed``; both keep the given order."""
    ids = tuple(train_ids)
    if fraction <= 0:
        return ids, ()
    n_validation = max(2, round(fraction * len(ids)))
    if len(ids) - n_validation < 2:
        raise ValueError(f"{len(ids)} training subjects are too few to hold out {n_validation} for validation; "
                         f"--train validation_fraction=0 trains on all of them (and cannot tell convergence)")
    held_out = set(np.random.default_rng([seed, 7919]).choice(len(ids), n_validation, replace=False).tolist())
    return (tuple(s for i, s in enumerate(ids) if i not in held_out),
            tuple(s for i, s in enumerate(ids) if i in held_out))


class ValidationSet:
    """The held-out pairs, loaded once, and their score under a network's ``predict``."""

    def __init__(self, dataset: Dataset, validation_ids: Sequence[str], batch_size: int) -> None:
        subjects = [dataset.load(subject) for subject in validation_ids]
        if dataset.atlas_id is not None:
            fixed = [dataset.load(dataset.atlas_id)] * len(subjects)
        else:
            fixed = subjects[1:] + subjects[:1]
        self.moving = np.stack([s.image for s in subjects]).astype(np.float32)
        self.fixed = np.stack([s.image for s in fixed]).astype(np.float32)
        has_labels = all(s.seg is not None for s in subjects + fixed)
        self.moving_segs = [s.seg for s in subjects] if has_labels else None
        self.fixed_segs = [s.seg for s in fixed] if has_labels else None
        self.labels = list(dataset.labels)
        self.batch_size = batch_size

    def score(self, predict: Predict) -> dict[str, float]:
        """``val_mse`` (mean image MSE after warping) and ``val_dice`` (mean over pairs of
        the mean Dice over labels; NaN without labels)."""
        from regbench.measuring.metrics import dice_per_label  # noqa: PLC0415 - torch: only when training
        from regbench.measuring.warp import warp_image, warp_labels  # noqa: PLC0415

        errors, dice = [], []
        for start in range(0, len(self.moving), self.batch_size):
            chunk = slice(start, start + self.batch_size)
            fields = predict(self.moving[chunk], self.fixed[chunk])
            for offset, displacement in enumerate(np.asarray(fields, dtype=np.float32)):
                index = start + offset
                warped = warp_image(self.moving[index], displacement)
                errors.append(float(np.mean((warped - self.fixed[index]) ** 2)))
                if self.moving_segs is not None and self.fixed_segs is not None:
                    warped_seg = warp_labels(self.moving_segs[index], displacement)
                    dice.append(float(np.nanmean(dice_per_label(self.fixed_segs[index], warped_seg, self.labels))))
        return {"val_mse": float(np.mean(errors)), "val_dice": float(np.mean(dice)) if dice else float("nan")}

    @staticmethod
    def criterion(scores: dict[str, float]) -> float:
        """The number convergence follows (higher is better): Dice where there are labels,
        else minus the MSE."""
        return scores["val_dice"] if scores["val_dice"] == scores["val_dice"] else -scores["val_mse"]


@dataclass
class Convergence:
    """Converged: the score's best over the last ``patience`` evaluations is no more than
    ``tolerance`` above its best before them."""

    patience: int
    tolerance: float
    scores: list[float] = field(default_factory=list)

    def update(self, score: float) -> bool:
        """Record one evaluation; whether it is the best so far (its weights are kept)."""
        best = max(self.scores, default=-np.inf)
        self.scores.append(score)
        return score > best

    @property
    def converged(self) -> bool:
        if len(self.scores) <= self.patience:
            return False
        before, recent = self.scores[: -self.patience], self.scores[-self.patience :]
        return max(recent) <= max(before) + self.tolerance


@dataclass
class Validator:
    """What :func:`regbench.learning.batches.run_steps` needs to validate while training:
    the held-out subjects, the framework's ``predict`` and how to keep and bring back the
    best weights."""

    validation: ValidationSet
    predict: Predict
    keep_best: Callable[[], object]
    restore_best: Callable[[], object]
    every: int
    convergence: Convergence
    stop_when_converged: bool


def make_validator(dataset: Dataset, validation_ids: Sequence[str], profile: Profile, predict: Predict,
                   keep_best: Callable[[], object], restore_best: Callable[[], object]) -> Validator | None:
    """The :class:`Validator` a trainer passes to ``run_steps`` for ``profile``; None when
    nothing is held out."""
    if not validation_ids:
        return None
    batch_size = profile.batch_for(len(dataset.spacing))
    return Validator(ValidationSet(dataset, validation_ids, batch_size), predict, keep_best, restore_best,
                     every=profile.validate_every, convergence=Convergence(profile.patience, profile.tolerance),
                     stop_when_converged=profile.until == "converged")
