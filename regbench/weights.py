"""Where learning methods keep their trained weights, and under which key.

Shared by every framework's learning methods (PyTorch's :class:`regbench.learning.
LearnedMethod`, the Keras plugin's): weights are kept under a key made of the method,
its parameters, the dataset and its options, the training subjects, the training
profile, the seed and a hash of the code that defines the network and the training,
so changing any of them trains again, and nothing else does.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import ClassVar

from regbench.fingerprint import code_version, digest
from regbench.method import Method, TrainingContext


def default_cache_dir() -> Path:
    """``$REGBENCH_CACHE``, else ``~/.cache/regbench``."""
    return Path(os.environ.get("REGBENCH_CACHE", Path.home() / ".cache" / "regbench"))


class CachedWeights(Method):
    """Base for methods that train in :meth:`prepare` and cache what they learned."""

    learns: ClassVar[bool] = True
    # Image sizes must be multiples of this (2**number of poolings) for skips to line up.
    size_multiple: ClassVar[int] = 16

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
            "profile": dataclasses.asdict(context.profile),
            "seed": self.seed,
            "code": code_version(self.code_modules()),
        }
        return digest(material)

    def weights_stem(self, context: TrainingContext) -> Path:
        """``<cache>/weights/<method>-<key>``: add the framework's suffix (``.pt``, ``.weights.h5``)."""
        cache_dir = Path(context.cache_dir) if context.cache_dir else default_cache_dir()
        return cache_dir / "weights" / f"{self.name}-{self.cache_key(context)}"
