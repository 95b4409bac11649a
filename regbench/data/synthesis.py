"""Images synthesised from label maps, in SynthMorph's style: each label a random
intensity, then noise, blur and a smooth bias. The ``synthetic`` dataset draws its
subjects' images so; a learning method with ``train_images=synth`` trains on such
images of its training subjects' label maps (:class:`SynthesisedImages`) and never
sees a real intensity."""

from __future__ import annotations

import dataclasses
import zlib
from typing import Any

import numpy as np
from scipy import ndimage

from regbench.data.deformations import random_smooth_field
from regbench.plugin.dataset import Dataset, Subject


def label_means(n_labels: int, rng: np.random.Generator) -> np.ndarray:
    """A mean intensity for each label 0 to ``n_labels``, drawn from [0.1, 1]; the
    background's (label 0) is 0."""
    means = rng.uniform(0.1, 1.0, size=n_labels + 1)
    means[0] = 0.0
    return means


def image_from_labels(seg: np.ndarray, means: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An image of label map ``seg``: each label its intensity in ``means``, Gaussian noise
    of σ 0.03, a Gaussian blur of σ drawn from [0.3, 1] voxel and a smooth multiplicative
    bias (about ±10 %), clipped at 0."""
    image = means[seg] + rng.normal(0, 0.03, size=seg.shape)
    image = ndimage.gaussian_filter(image, rng.uniform(0.3, 1.0))
    image *= np.exp(random_smooth_field(seg.shape, rng, 0.1, control_spacing=32)[0])
    return np.clip(image, 0, None).astype(np.float32)


class SynthesisedImages:
    """``dataset`` with every subject's image replaced by one synthesised from its label
    map (:func:`image_from_labels`), drawn once. The label intensities are drawn once from
    ``seed`` and shared by every subject (the atlas too), so that an image similarity
    (MSE, NCC) compares images of one contrast; the noise, blur and bias are each
    subject's own (seeded by ``seed`` and its id). SynthMorph draws a new contrast for
    every image at every step and trains with a loss on the label maps, which regbench's
    trainer, whose losses compare images, does not have. Everything else is ``dataset``'s."""

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset, self.seed = dataset, seed

    def __getattr__(self, name: str) -> Any:
        if name == "dataset" or name.startswith("__"):  # not set yet (while unpickled or copied): no recursion
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def load(self, subject_id: str) -> Subject:
        subject = self.dataset.load(subject_id)
        if subject.seg is None:
            raise ValueError(f"train_images=synth synthesises images from label maps; subject {subject_id!r} of "
                             f"dataset {self.dataset.name!r} has none")
        seg = subject.seg.astype(np.int64)
        if seg.min() < 0:
            raise ValueError(f"train_images=synth: subject {subject_id!r} of dataset {self.dataset.name!r} has "
                             f"negative labels; expected labels from 0 (background)")
        means = label_means(int(seg.max()), np.random.default_rng(self.seed))  # a prefix of one sequence: shared
        rng = np.random.default_rng([self.seed, zlib.crc32(subject_id.encode())])
        return dataclasses.replace(subject, image=image_from_labels(seg, means, rng))
