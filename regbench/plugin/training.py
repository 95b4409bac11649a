"""The training vocabulary every method receives and reports: how long and how fast
to train (:class:`Profile`, the named :data:`PROFILES`), why training stopped (the
``STOP_*`` names) and what it produced (:class:`TrainingReport`).

Part of the contract a method is written against, as :class:`regbench.TrainingContext`
is: a method receives a profile and reports a :class:`TrainingReport`. The machinery
that trains (batches, validation, the trainer, cached weights) is
:mod:`regbench.learning`'s, and needs torch; this module does not.

A profile is named (``--profile``) and any of its settings can be overridden
(``--train KEY=VALUE``); the resolved profile is what decides the weights and the
results, so it goes whole into their keys and into ``run.json``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

UNTIL = ("budget", "converged")
# Why training stopped (TrainingReport.stop, the results' train_stop column).
STOP_CONVERGED = "converged"  # validation stopped improving (early, or by the budget's end)
STOP_BUDGET = "budget"  # the budget ended while validation was still improving: under-trained
STOP_UNVALIDATED = "unvalidated"  # nothing held out (validation_fraction=0): cannot tell


@dataclass(frozen=True)
class Profile:
    """How to train. The budget is ``steps``, or ``epochs`` passes over the training
    subjects (exactly one is set). A share ``validation_fraction`` of the training
    subjects (at least 2) is held out and scored every ``validate_every`` steps (mean
    Dice where labels exist, else the image MSE); training has *converged* when that
    score has not improved by more than ``tolerance`` over the last ``patience``
    evaluations. ``until="converged"`` stops there (the budget then is the most steps);
    ``until="budget"`` trains the whole budget. Either way the weights of the best
    evaluation are kept."""

    name: str
    batch_size: int  # 2D images; 3D volumes use batch_size_3d
    lr: float
    epochs: int | None = None
    steps: int | None = None
    until: str = "budget"
    validation_fraction: float = 0.1
    validate_every: int = 50
    patience: int = 5
    tolerance: float = 1e-3
    # Volumes take batch 1, as the field trains 3D registration networks: at 160×192×160,
    # batch 8 needs 34 GB (vxm1) to 113 GB (eca-unet) of GPU memory.
    batch_size_3d: int = 1

    def __post_init__(self) -> None:
        problems = []
        if (self.epochs is None) == (self.steps is None):
            problems.append("set exactly one of steps and epochs")
        for key in ("batch_size", "batch_size_3d", "epochs", "steps", "validate_every", "patience"):
            value = getattr(self, key)
            if value is not None and value < 1:
                problems.append(f"{key} must be at least 1, got {value}")
        if not self.lr > 0:
            problems.append(f"lr must be positive, got {self.lr}")
        if not 0 <= self.validation_fraction < 1:
            problems.append(f"validation_fraction must be in [0, 1), got {self.validation_fraction}")
        if not self.tolerance >= 0:
            problems.append(f"tolerance must be at least 0, got {self.tolerance}")
        if self.until not in UNTIL:
            problems.append(f"until must be one of {', '.join(UNTIL)}, got {self.until!r}")
        if problems:
            raise ValueError(f"training profile {self.name!r}: {'; '.join(problems)}")

    def batch_for(self, ndim: int) -> int:
        """The batch size for images with ``ndim`` spatial axes."""
        return self.batch_size_3d if ndim >= 3 else self.batch_size

    def total_steps(self, n_train: int, ndim: int = 2) -> int:
        """The budget in steps (with ``until="converged"``, the most steps)."""
        if self.steps is not None:
            return self.steps
        assert self.epochs is not None
        return self.epochs * math.ceil(n_train / self.batch_for(ndim))

    def with_settings(self, settings: Mapping[str, str]) -> Profile:
        """This profile with ``settings`` (text, as typed on the command line) applied,
        each typed like the setting it replaces; ``steps`` replaces ``epochs`` and the
        other way round. A ValueError names an unknown key or a bad value."""
        fields = {field.name: field for field in dataclasses.fields(self) if field.name != "name"}
        changes: dict[str, object] = {}
        for key, text in settings.items():
            if key not in fields:
                raise ValueError(f"--train: unknown setting {key!r}; valid settings: {', '.join(fields)}")
            kind = str if key == "until" else float if key in ("lr", "validation_fraction", "tolerance") else int
            try:
                changes[key] = kind(text)
            except ValueError:
                raise ValueError(f"--train: {key} expects {'a number' if kind is float else 'an integer'}, "
                                 f"got {text!r}") from None
        if "steps" in changes and "epochs" not in changes:
            changes["epochs"] = None
        if "epochs" in changes and "steps" not in changes:
            changes["steps"] = None
        return dataclasses.replace(self, **changes)


PROFILES = {
    # As published: 2000 epochs, batch 8, Adam at 1e-4. Hours even on a GPU: 2000 epochs of
    # the 240 mni2d training subjects are 60,000 steps, at 7-18 ms a step on an H200.
    "paper": Profile("paper", batch_size=8, lr=1e-4, epochs=2000, validate_every=500),
    # Trains until validation stops improving, at most 5000 steps: about a minute per 2D
    # network on a GPU; the default where CUDA is available.
    "converge": Profile("converge", batch_size=8, lr=1e-3, steps=5000, until="converged", validate_every=100),
    # Fits a 2-core CPU budget, the default there: far from converged (rows are marked).
    # At 1e-4 a few hundred steps barely move a network, so the learning rate is raised.
    "quick": Profile("quick", batch_size=8, lr=1e-3, steps=250, validate_every=25),
    # Two minutes on a CPU: for CI's regression gate and for checking a set-up, not for results.
    "smoke": Profile("smoke", batch_size=8, lr=1e-3, steps=80, validate_every=40),
}


def default_profile(cuda: bool) -> str:
    """``converge`` where CUDA is available, ``quick`` on a CPU."""
    return "converge" if cuda else "quick"


@dataclass
class TrainingReport:
    """What training produced, stored with the weights and the results: the steps run
    (validation included in the seconds), the loss per step, the validation scores
    (``step``, ``val_mse``, ``val_dice`` per evaluation), why it stopped
    (``converged``, ``budget`` or ``unvalidated``; see the ``STOP_*`` names above)
    and the step whose weights were kept; the batch size and the preflight step's peak memory."""

    seconds: float
    steps: int
    losses: list[float] = field(default_factory=list)
    device: str = "cpu"
    peak_cuda_mb: float | None = None
    peak_rss_mb: float | None = None
    cached: bool = False
    validation: list[dict[str, float]] = field(default_factory=list)
    stop: str = STOP_UNVALIDATED
    best_step: int | None = None
    batch_size: int | None = None  # images per step (the profile's for the data's dimensionality)
    preflight_cuda_mb: float | None = None  # peak CUDA memory of the one-step preflight

    @property
    def best_validation(self) -> dict[str, float] | None:
        """The validation scores of the kept weights."""
        return next((row for row in self.validation if row["step"] == self.best_step), None)
