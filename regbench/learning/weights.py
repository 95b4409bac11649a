"""Where learning methods keep what they learned, and the one routine that loads it
or trains and saves it, whatever the framework.

Weights are kept under a key made of the method, its parameters, the dataset and its
options, the training and validation subjects and the content of their files, the
training profile (every setting), the seed and a hash of the code that defines the
network and the training (with all it imports from regbench), so changing any of them trains
again, and nothing else does. Beside the weights, a JSON file keeps how they were
trained (:class:`TrainingReport`); a method that loads cached weights reports that
training, marked ``cached``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from regbench.common.atomic import atomic_write, atomic_write_text
from regbench.common.fingerprint import code_version, digest
from regbench.learning.profiles import STOP_UNVALIDATED
from regbench.plugin.method import Method, TrainingContext


@dataclass
class TrainingReport:
    """What training produced, stored with the weights and the results: the steps run
    (validation included in the seconds), the loss per step, the validation scores
    (``step``, ``val_mse``, ``val_dice`` per evaluation), why it stopped
    (``converged``, ``budget`` or ``unvalidated``; see :mod:`regbench.learning.profiles`)
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


def default_cache_dir() -> Path:
    """``$REGBENCH_CACHE``, else ``~/.cache/regbench``."""
    return Path(os.environ.get("REGBENCH_CACHE", Path.home() / ".cache" / "regbench"))


class CachedWeights(Method):
    """Base for methods that train in :meth:`prepare` and cache what they learned.

    A subclass calls :meth:`load_or_train` from its ``prepare`` with its framework's
    three steps: load weights from a file, train (returning a :class:`TrainingReport`),
    save weights to a file.
    """

    learns: ClassVar[bool] = True
    # Image sizes must be multiples of this (2**number of poolings) for skips to line up.
    size_multiple: ClassVar[int] = 16
    weights_suffix: ClassVar[str] = ".pt"  # the framework's file type

    def image_shape(self, context: TrainingContext) -> tuple[int, ...]:
        """The dataset's image shape, checked against what the network can take."""
        if not context.train_ids:
            raise ValueError(f"method {self.name!r} learns from training subjects; "
                             f"dataset {context.dataset.name!r} has none")
        shape = context.dataset.load(context.dataset.atlas_id or context.train_ids[0]).image.shape
        if any(size % self.size_multiple for size in shape):
            raise ValueError(
                f"method {self.name!r} needs image sizes that are multiples of {self.size_multiple}; "
                f"dataset {context.dataset.name!r} has images of shape {shape}"
            )
        return shape

    def cache_key(self, context: TrainingContext) -> str:
        material = {
            "method": self.name,
            "params": self.params,
            "dataset": context.dataset.name,
            "dataset_options": context.dataset.options,
            "train_ids": digest(context.train_ids),
            "validation_ids": digest(context.validation_ids),
            "data": context.data_digest,
            "profile": dataclasses.asdict(context.profile),
            "seed": self.seed,
            "code": code_version(self.code_modules()),
        }
        return digest(material)

    def weights_stem(self, context: TrainingContext) -> Path:
        """``<cache>/weights/<method>-<key>``, without a suffix."""
        cache_dir = Path(context.cache_dir) if context.cache_dir else default_cache_dir()
        return cache_dir / "weights" / f"{self.name}-{self.cache_key(context)}"

    def load_or_train(self, context: TrainingContext, *, load: Callable[[Path], object],
                      train: Callable[[], TrainingReport], save: Callable[[Path], object]) -> None:
        """Load the cached weights for ``context`` if both files are there, else train
        and save them (each file written atomically); sets :attr:`training`."""
        stem = self.weights_stem(context)
        weights, report_file = stem.with_suffix(self.weights_suffix), stem.with_suffix(".json")
        if weights.is_file() and report_file.is_file():
            load(weights)
            self.training = TrainingReport(**{**json.loads(report_file.read_text()), "cached": True})
            return
        self.training = train()
        weights.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(weights, save)
        atomic_write_text(report_file, json.dumps(dataclasses.asdict(self.training)))
