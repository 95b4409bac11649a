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
from pathlib import Path
from typing import ClassVar

from regbench.common.atomic import atomic_write, atomic_write_text
from regbench.common.fingerprint import code_version, digest
from regbench.plugin.method import Method, TrainingContext
from regbench.plugin.training import TrainingReport


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
            "dataset_code": code_version(context.dataset.code_modules()),
            "train_ids": digest(context.train_ids),
            "validation_ids": digest(context.validation_ids),
            "data": context.data_digest,
            "profile": dataclasses.asdict(context.profile),
            "seed": self.seed,
            "code": code_version(self.code_modules()),
        }
        if context.library_versions:  # absent for methods that require no library: their keys stay as they were
            material["libraries"] = context.library_versions
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
