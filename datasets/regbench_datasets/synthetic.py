"""``synthetic``: SynthMorph-style random anatomy, small and fast, for tests and trials.

One random "anatomy" (argmax of smooth noise channels) is shared by all subjects;
each subject warps it by its own smooth random field, then draws per-label Gaussian
intensities, a blur and a multiplicative bias. Works in 2D and 3D (``shape`` option).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from scipy import ndimage

from regbench import Dataset, GeneratedDataset, Range, Registry, Subject, hookimpl
from regbench.data import image_from_labels, label_means, random_smooth_field
from regbench.measuring import warp_tensor


class Synthetic(GeneratedDataset):
    name = "synthetic"
    description = "random smooth label maps with per-label intensities (SynthMorph-style), 2D or 3D"
    default_options = {
        "shape": (64, 64),
        "n_subjects": 20,
        "n_labels": 4,
        "seed": 0,
        "test_fraction": 0.2,
        "max_displacement": 4.0,
    }
    option_rules = {"n_labels": Range(at_least=1), "max_displacement": Range(at_least=0)}
    atlas_id = "synthetic-atlas"

    def __init__(self, **options: object) -> None:
        super().__init__(**options)
        shape = tuple(int(n) for n in self.options["shape"])
        if len(shape) not in (2, 3) or min(shape) < 4:
            raise ValueError(f"synthetic: shape must be 2 or 3 sizes of at least 4, got {shape}")
        self.shape = shape
        rng = np.random.default_rng([int(self.options["seed"]), 2**31])
        n_channels = int(self.options["n_labels"]) + 1  # + background
        noise = rng.standard_normal((n_channels, *shape))
        self._anatomy = np.stack([ndimage.gaussian_filter(c, min(shape) / 10) for c in noise]).astype(np.float32)

    @property
    def labels(self) -> Mapping[int, str]:
        return {i: f"label {i}" for i in range(1, int(self.options["n_labels"]) + 1)}

    @property
    def spacing(self) -> tuple[float, ...]:
        return (1.0,) * len(self.shape)

    def load(self, subject_id: str) -> Subject:
        if subject_id == self.atlas_id:
            index, channels = 2**31 - 1, self._anatomy
        else:
            index = self.subject_index(subject_id)
            rng = np.random.default_rng([int(self.options["seed"]), index])
            field = random_smooth_field(self.shape, rng, self.options["max_displacement"], control_spacing=8)
            channels = warp_tensor(torch.from_numpy(self._anatomy)[None], torch.from_numpy(field)[None])[0].numpy()
        seg = np.argmax(channels, axis=0).astype(np.int16)
        rng = np.random.default_rng([int(self.options["seed"]), index, 1])
        means = label_means(int(self.options["n_labels"]), rng)  # each subject its own contrast
        return Subject(subject_id, image_from_labels(seg, means, rng), seg)


@hookimpl
def regbench_register_datasets(register: Registry[Dataset]) -> None:
    register(Synthetic)
