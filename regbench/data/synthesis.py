"""Images synthesised from label maps, SynthMorph's way: each label a random intensity,
then noise, blur and a smooth bias. The ``synthetic`` dataset draws its subjects' images
so; a learning method with ``train_images=synth`` trains on such images of its training
subjects' label maps (:class:`SynthesisedImages`) and never sees a real intensity."""

from __future__ import annotations

import dataclasses
import zlib
from typing import Any

import numpy as np
from scipy import ndimage

from regbench.data.deformations import random_smooth_field
from regbench.plugin.dataset import Dataset, Subject


def image_from_labels(seg: np.ndarray, n_labels: int, rng: np.random.Generator) -> np.ndarray:
    """An image of label map ``seg`` (labels 0 to ``n_labels``): each label a mean intensity
    drawn from [0.1, 1] (background 0), Gaussian noise of σ 0.03, a Gaussian blur of σ
    drawn from [0.3, 1] voxel and a smooth multiplicative bias (about ±10 %), clipped at 0."""
    means = rng.uniform(0.1, 1.0, size=n_labels + 1)
    means[0] = 0.0
    image = means[seg] + rng.normal(0, 0.03, size=seg.shape)
    image = ndimage.gaussian_filter(image, rng.uniform(0.3, 1.0))
    image *= np.exp(random_smooth_field(seg.shape, rng, 0.1, control_spacing=32)[0])
    return np.clip(image, 0, None).astype(np.float32)


class SynthesisedImages:
    """``dataset`` with every subject's image replaced by one synthesised from its label
    map (:func:`image_from_labels`), seeded by ``seed`` and the subject's id: one image
    per subject, drawn once (SynthMorph draws a new one every step). Everything else is
    ``dataset``'s."""

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset, self.seed = dataset, seed

    def __getattr__(self, name: str) -> Any:
        return getattr(self.dataset, name)

    def load(self, subject_id: str) -> Subject:
        subject = self.dataset.load(subject_id)
        if subject.seg is None:
            raise ValueError(f"train_images=synth synthesises images from label maps; subject {subject_id!r} of "
                             f"dataset {self.dataset.name!r} has none")
        rng = np.random.default_rng([self.seed, zlib.crc32(subject_id.encode())])
        seg = subject.seg.astype(np.int64)
        return dataclasses.replace(subject, image=image_from_labels(seg, int(seg.max()), rng))
