"""``mni2d``: the embedded default dataset, built offline from the MNI ICBM152 template.

The ``nilearn`` wheel ships the ICBM152 2009 T1 and GM/WM probability maps
(197×233×189, 1 mm, RAS) as plain NIfTI files. They are read here with nibabel
straight from the installed package, without importing nilearn (whose fetchers
download): nothing touches the network.

Coronal slices are cropped/padded to 160×192, the shape of the reference paper's
OASIS slices. Every subject is made from a neighbouring coronal slice, a small
residual affine (the data are affinely normalised, like FreeSurfer's output), a
smooth random deformation and intensity/bias variation, all drawn from a generator
seeded by ``(seed, subject index)``: a subject never depends on how many others
there are. Labels come from the warped tissue probabilities, split by hemisphere.
The atlas is the undeformed template slice.

Because every subject is made by a known deformation, the true correspondence of
each test pair is known (:meth:`Mni2d.true_displacement`), which real anatomy never
gives: a subject's voxel ``y`` shows the template at ``y + phi(y)``, ``phi`` the
field it was warped by, so the true field of registering the subject onto the atlas
is the inverse of ``phi`` (:func:`regbench.data.invert_field`). "True" means the
in-plane correspondence the subject was made with: its slice lies up to 4 mm from
the atlas's, through the plane, so its anatomy differs in ways no 2D field can
undo, and its intensities vary; a method with the true field still has Dice below 1.
The atlas's landmarks (a grid of points in the anatomy) and their true positions in
each subject give TRE (:meth:`Mni2d.pair_landmarks`).
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Mapping
from pathlib import Path

import nibabel as nib
import numpy as np
import torch

from regbench import Dataset, GeneratedDataset, Landmarks, Pair, Range, Registry, Subject, hookimpl
from regbench.data import invert_field, random_affine_field, random_smooth_field
from regbench.measuring import warp_tensor

ATLAS_Y = 112  # coronal index in the template: through the thalamus and lateral ventricles
CROP_X = slice(18, 178)  # 160 voxels left to right; the brain spans x = 26..170
PAD_Z = (1, 2)  # 189 -> 192 voxels inferior to superior
MIDLINE_X = 98 - CROP_X.start  # x = 0 mm in the template, in cropped voxels
MAX_SLICE_OFFSET = 4.0  # subjects come from slices within ±4 mm of the atlas slice
# World position (mm, RAS) of the 2D slices: axis 0 runs left to right, axis 1 inferior
# to superior, in the coronal plane of the atlas slice; so saved outputs open in MNI space.
AFFINE = np.array([
    [1.0, 0.0, 0.0, -98.0 + CROP_X.start],
    [0.0, 0.0, 1.0, -134.0 + ATLAS_Y],
    [0.0, 1.0, 0.0, -72.0 - PAD_Z[0]],
    [0.0, 0.0, 0.0, 1.0],
])
LANDMARK_STEP = 16  # voxels between the atlas's landmarks
LABELS = {1: "Left CSF", 2: "Left GM", 3: "Left WM", 4: "Right CSF", 5: "Right GM", 6: "Right WM"}
TEMPLATE_FILES = {
    "t1": "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
    "gm": "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
    "wm": "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz",
}


def template_dir() -> Path:
    """Where the installed nilearn keeps its bundled data (found without importing it)."""
    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("mni2d needs the nilearn package for its template files: pip install nilearn")
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data"


@functools.lru_cache(maxsize=1)
def template_slab() -> np.ndarray:
    """Channels (t1, gm, wm, brain, right hemisphere) of the slices around the atlas.

    Shape (5, n_slices, 160, 192), float32 in [0, 1]; slice ``MAX_SLICE_OFFSET + 1``
    is the atlas slice.
    """
    start, stop = ATLAS_Y - int(MAX_SLICE_OFFSET) - 1, ATLAS_Y + int(MAX_SLICE_OFFSET) + 2
    maps = {}
    for key, filename in TEMPLATE_FILES.items():
        path = template_dir() / filename
        if not path.is_file():
            raise FileNotFoundError(f"mni2d: template file {path} is missing; reinstall nilearn")
        volume = np.asarray(nib.load(path).dataobj[CROP_X, start:stop, :], dtype=np.float32) / 255.0
        maps[key] = np.pad(volume, ((0, 0), (0, 0), PAD_Z)).transpose(1, 0, 2)  # (slice, x, z)
    brain = (maps["t1"] > 0).astype(np.float32)
    right = np.zeros_like(brain)
    right[:, MIDLINE_X:, :] = 1.0
    return np.stack([maps["t1"], maps["gm"], maps["wm"], brain, right])


def tissue_labels(gm: np.ndarray, wm: np.ndarray, brain: np.ndarray, right: np.ndarray) -> np.ndarray:
    """CSF/GM/WM by largest probability inside the brain (CSF = brain - GM - WM), split L/R."""
    csf = np.clip(brain - gm - wm, 0.0, 1.0)
    tissue = np.argmax(np.stack([csf, gm, wm]), axis=0) + 1
    labels = tissue + 3 * (right >= 0.5)
    labels[brain < 0.5] = 0
    return labels.astype(np.int16)


def atlas_landmarks(atlas_seg: np.ndarray) -> np.ndarray:
    """The atlas's landmarks: the voxel centres of a regular grid, every
    :data:`LANDMARK_STEP` voxels, that lie in the labelled anatomy (54 points),
    shape ``(N, 2)``."""
    grid = np.zeros(atlas_seg.shape, dtype=bool)
    grid[LANDMARK_STEP // 2::LANDMARK_STEP, LANDMARK_STEP // 2::LANDMARK_STEP] = True
    return np.argwhere(grid & (atlas_seg > 0)).astype(np.float64)


class Mni2d(GeneratedDataset):
    name = "mni2d"
    description = (
        "embedded default: 160x192 coronal MNI ICBM152 slices (from nilearn's wheel) made into "
        "seeded subjects; 6 labels (L/R CSF, GM, WM)"
    )
    default_options = {
        "n_subjects": 300,  # 240 train, 60 test pairs: a full run of every method fits minutes on 2 CPU cores
        "seed": 0,
        "test_fraction": 0.2,
        "max_displacement": 5.0,  # voxels, of the smooth non-linear part
        "max_rotation_deg": 3.0,
        "max_scaling": 0.04,
        "max_translation": 3.0,  # voxels
    }
    option_rules = dict.fromkeys(("max_displacement", "max_rotation_deg", "max_scaling", "max_translation"),
                                 Range(at_least=0))

    labels: Mapping[int, str] = LABELS
    spacing = (1.0, 1.0)
    atlas_id = "mni2d-atlas"

    def shared_files(self) -> tuple[Path, ...]:
        """The template files every subject is made from (another nilearn may ship others)."""
        return tuple(template_dir() / filename for filename in TEMPLATE_FILES.values())

    def load(self, subject_id: str) -> Subject:
        if subject_id == self.atlas_id:
            channels = template_slab()[:, int(MAX_SLICE_OFFSET) + 1]
            return Subject(subject_id, channels[0].copy(), tissue_labels(*channels[1:]), AFFINE)
        return self._make_subject(subject_id, self.subject_index(subject_id))

    def _deformation(self, index: int) -> tuple[np.random.Generator, float, np.ndarray]:
        """Subject ``index``'s draws: its generator (to draw the intensity variation
        next), the position of its slice in the slab, and the field it is warped by."""
        opts = self.options
        rng = np.random.default_rng([int(opts["seed"]), index])
        position = int(MAX_SLICE_OFFSET) + 1 + rng.uniform(-MAX_SLICE_OFFSET, MAX_SLICE_OFFSET)
        shape = template_slab().shape[2:]
        field = random_affine_field(
            shape, rng, opts["max_rotation_deg"], opts["max_scaling"], opts["max_translation"]
        ) + random_smooth_field(shape, rng, opts["max_displacement"], control_spacing=24)
        return rng, position, field

    def _make_subject(self, subject_id: str, index: int) -> Subject:
        rng, position, field = self._deformation(index)
        slab = template_slab()
        # A neighbouring slice, linearly interpolated between template slices.
        below = int(np.floor(position))
        weight = position - below
        channels = (1 - weight) * slab[:, below] + weight * slab[:, below + 1]
        warped = warp_tensor(torch.from_numpy(channels)[None], torch.from_numpy(field)[None])[0].numpy()
        t1, gm, wm, brain, right = warped
        labels = tissue_labels(gm, wm, brain, right)
        return Subject(subject_id, self._vary_intensity(t1, brain, rng), labels, AFFINE)

    @functools.lru_cache(maxsize=2)  # noqa: B019 - a pair asks twice (landmarks, field); the dataset lives long
    def _true_field(self, moving_id: str) -> np.ndarray:
        """The in-plane correspondence of ``moving_id`` with the atlas (module doc): the
        inverse of the field the subject was warped by."""
        try:
            return invert_field(self._deformation(self.subject_index(moving_id))[2])
        except ValueError as error:
            raise ValueError(f"mni2d: the true field of {moving_id!r} is unknown ({error}); smaller deformations "
                             f"(options max_displacement, max_rotation_deg, max_scaling) keep it invertible") from None

    def _onto_atlas(self, pair: Pair) -> bool:
        """Whether ``pair`` registers a generated subject onto the atlas: the pairs whose
        truth is known (every test pair)."""
        return pair.fixed_id == self.atlas_id and pair.moving_id != self.atlas_id

    def true_displacement(self, pair: Pair, fixed: Subject, moving: Subject) -> np.ndarray | None:
        """The true field of a subject onto the atlas (:meth:`_true_field`), float32."""
        if not self._onto_atlas(pair):
            return None
        return self._true_field(pair.moving_id).astype(np.float32)

    def pair_landmarks(self, pair: Pair, fixed: Subject, moving: Subject) -> Landmarks | None:
        """The atlas's landmarks (:func:`atlas_landmarks`) and where the true field
        carries them in the subject: exact, since they sit on voxel centres."""
        if not self._onto_atlas(pair):
            return None
        points = atlas_landmarks(fixed.seg)
        true_field = self._true_field(pair.moving_id)
        index = tuple(points.astype(int).T)
        return Landmarks(points, points + np.stack([component[index] for component in true_field], axis=1))

    @staticmethod
    def _vary_intensity(t1: np.ndarray, brain: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Gamma, a smooth multiplicative bias field and a little noise; result in [0, 1]."""
        gamma = np.exp(rng.uniform(-0.2, 0.2))
        bias = np.exp(random_smooth_field(t1.shape, rng, 0.15, control_spacing=64)[0])
        noise = rng.normal(0.0, 0.015, size=t1.shape)
        image = (np.clip(t1, 0, 1) ** gamma) * bias + noise * (brain >= 0.5)
        return np.clip(image, 0.0, 1.0).astype(np.float32)


@hookimpl
def regbench_register_datasets(register: Registry[Dataset]) -> None:
    register(Mni2d, requires=("nilearn",))
