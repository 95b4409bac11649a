"""What a run can keep besides its tables: a qualitative snapshot of one pair for the
report's figure, a small preview of every pair for the pair viewer, and, on request,
every warped image, label map and field as NIfTI.

All are made where the method runs (see :mod:`regbench.execution.evaluation`), from the outcome
of each successful registration.

A preview (:func:`preview_arrays`) is the snapshot's middle slice, taken every
``stride``-th voxel so that its longer side is at most :data:`PREVIEW_SIDE` voxels, as
float16: at most 4 × 96² × 2 bytes = 72 KiB per method × pair (warped, the displacement's
two components, det J) before compression, whatever the image's size (a 3D pair keeps one
slice, never its volume). Its displacement is in the preview's voxels (divided by the
stride), so a grid drawn on the preview is the field's. ``previews.npz``
(:func:`write_previews`) holds every pair's fixed and moving previews once and every
method's warped image, displacement and Jacobian determinant per pair: O(pairs × methods
× 96²) float16 (sizes measured: :mod:`regbench.outputs.files`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import nibabel as nib
import numpy as np

from regbench.common.atomic import atomic_write
from regbench.outputs.owned import claim_files
from regbench.plugin.dataset import Pair, Subject
from regbench.plugin.metric import PairOutcome

SNAPSHOT_FILE = "qualitative.npz"
PREVIEW_FILE = "previews.npz"
PREVIEW_SIDE = 96  # a preview's longer side, at most, in voxels
PREVIEW_PREFIX = "preview/"  # a stored record's preview arrays, beside the figure pair's snapshot
PAIR_KINDS = ("fixed", "moving")  # a pair's previews, once per pair
METHOD_KINDS = ("warped", "displacement", "jacobian")  # a method's previews, per pair
FLOAT16_MAX = float(np.finfo(np.float16).max)


def _middle_slice(array: np.ndarray, ndim: int) -> np.ndarray:
    """A 2D float32 view: the array itself in 2D, its middle slice along the first spatial axis in 3D."""
    return (array if ndim == 2 else array[..., array.shape[-3] // 2, :, :]).astype(np.float32)


def snapshot_arrays(outcome: PairOutcome) -> dict[str, np.ndarray]:
    """What the report's qualitative figure shows of one method on one pair: the fixed
    and moving images, the warped image, the in-plane displacement and the Jacobian
    determinant (the middle slice in 3D)."""
    ndim = outcome.displacement.shape[0]
    in_plane = outcome.displacement[-2:]  # the components along the two displayed axes
    return {
        "fixed": _middle_slice(outcome.fixed.image, ndim),
        "moving": _middle_slice(outcome.moving.image, ndim),
        "warped": _middle_slice(outcome.warped_image, ndim),
        "displacement": _middle_slice(in_plane, ndim),
        "jacobian": _middle_slice(outcome.jacobian, ndim),
    }


def preview_stride(shape: Sequence[int]) -> int:
    """The step that brings an image of ``shape`` (2D) to at most :data:`PREVIEW_SIDE` voxels a side."""
    return max(1, -(-max(shape) // PREVIEW_SIDE))


def preview_arrays(snapshot: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The pair viewer's preview of a snapshot (:func:`snapshot_arrays`), under
    :data:`PREVIEW_PREFIX`: every array taken every stride-th voxel
    (:func:`preview_stride`), the displacement then in the preview's voxels, as float16
    (values beyond its range clipped to it, not made infinite)."""
    stride = preview_stride(snapshot["fixed"].shape)
    preview = {}
    for kind, array in snapshot.items():
        array = array[..., ::stride, ::stride] / (stride if kind == "displacement" else 1)
        preview[f"{PREVIEW_PREFIX}{kind}"] = np.clip(array, -FLOAT16_MAX, FLOAT16_MAX).astype(np.float16)
    return preview


def figure_arrays(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The report's figure arrays among a stored record's ``arrays`` (none but for its figure pair)."""
    return {key: array for key, array in arrays.items() if not key.startswith(PREVIEW_PREFIX)}


def preview_of(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray] | None:
    """The preview among a stored record's ``arrays``, by kind; None when it has none
    (a record stored before previews were kept)."""
    preview = {key[len(PREVIEW_PREFIX):]: array for key, array in arrays.items() if key.startswith(PREVIEW_PREFIX)}
    return preview if set(preview) == {*PAIR_KINDS, *METHOD_KINDS} else None


def _key_part(name: str) -> str:
    """A method or pair id as one part of a key: ``%`` and ``/`` escaped, so keys split on
    ``/`` back into their parts (ids keep everything else, ``->`` included)."""
    return name.replace("%", "%25").replace("/", "%2F")


def preview_key(kind: str, pair: str, method: str | None = None) -> str:
    """The key of a preview in ``previews.npz``: ``fixed/<pair>``, ``moving/<pair>``,
    ``warped/<method>/<pair>``, ``displacement/<method>/<pair>``, ``jacobian/<method>/<pair>``
    (ids as they are, but for ``%`` and ``/``: :func:`_key_part`)."""
    return "/".join([kind, *([] if method is None else [_key_part(method)]), _key_part(pair)])


def write_previews(out_dir: Path, by_method: Mapping[str, Mapping[str, Mapping[str, np.ndarray]]]) -> Path | None:
    """``previews.npz``: each method's preview of each pair (``by_method[method][pair]``:
    :func:`preview_of`), the fixed and moving images once per pair (see module doc);
    None when there is none."""
    arrays: dict[str, np.ndarray] = {}
    for method, by_pair in by_method.items():
        for pair, preview in by_pair.items():
            for kind in PAIR_KINDS:
                arrays.setdefault(preview_key(kind, pair), preview[kind])
            for kind in METHOD_KINDS:
                arrays[preview_key(kind, pair, method)] = preview[kind]
    if not arrays:
        return None
    path = out_dir / PREVIEW_FILE
    atomic_write(path, lambda partial: np.savez_compressed(partial, **arrays))
    return path


def previews_problem(arrays: Mapping[str, np.ndarray]) -> str | None:
    """Why ``arrays`` are not what :func:`write_previews` writes, or None: each key one of
    its five kinds with its parts, a float16 array no larger than a preview, of its pair's
    shape; each pair with its fixed and moving images, each method's pair with its three kinds."""
    shapes: dict[str, tuple[int, ...]] = {}
    found: dict[tuple[str, ...], set[str]] = {}
    for key, array in arrays.items():
        kind, *parts = key.split("/")
        if not ((kind in PAIR_KINDS and len(parts) == 1) or (kind in METHOD_KINDS and len(parts) == 2)):
            return f"holds an array {key!r}, not a preview of its kinds ({', '.join((*PAIR_KINDS, *METHOD_KINDS))})"
        if array.dtype != np.float16:
            return f"holds {key!r} as {array.dtype}, not float16"
        shape = array.shape[1:] if kind == "displacement" else array.shape
        if len(shape) != 2 or max(shape) > PREVIEW_SIDE or (kind == "displacement" and array.shape[0] != 2):
            return f"holds {key!r} of shape {array.shape}, not a preview of at most {PREVIEW_SIDE} voxels a side"
        if shapes.setdefault(parts[-1], shape) != shape:
            return f"holds {key!r} of shape {array.shape}, another than its pair's {shapes[parts[-1]]}"
        found.setdefault(tuple(parts), set()).add(kind)
    for parts, kinds in found.items():
        if len(parts) == 2 and (parts[1],) not in found:
            return f"holds {'/'.join(parts)}'s previews without the pair's {' and '.join(PAIR_KINDS)} images"
        expected = set(METHOD_KINDS if len(parts) == 2 else PAIR_KINDS)
        if kinds != expected:
            return f"lacks {', '.join(sorted(expected - kinds))} of {'/'.join(parts)}"
    return None


def write_snapshot(out_dir: Path, pair_id: str, by_method: Mapping[str, Mapping[str, np.ndarray]]) -> Path | None:
    """``qualitative.npz``: the fixed and moving images once, then ``warped/<method>``,
    ``displacement/<method>`` and ``jacobian/<method>`` for each method."""
    if not by_method:
        return None
    first = next(iter(by_method.values()))
    arrays = {"fixed": first["fixed"], "moving": first["moving"]}
    for method, snapshot in by_method.items():
        for key in ("warped", "displacement", "jacobian"):
            arrays[f"{key}/{method}"] = snapshot[key]
    path = out_dir / SNAPSHOT_FILE
    atomic_write(path, lambda partial: np.savez_compressed(partial, pair=np.array(pair_id), **arrays))
    return path


def subject_affine(subject: Subject, spacing: tuple[float, ...]) -> np.ndarray:
    """The subject's own voxel-to-world affine, else a diagonal one from the spacing."""
    if subject.affine is not None:
        return subject.affine
    return np.diag([*spacing, *([1.0] * (4 - len(spacing)))])


def pair_file(folder: Path, pair: Pair, kind: str) -> Path:
    """``folder/<pair id, file-safe>_<kind>.nii.gz``."""
    return folder / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', pair.id)}_{kind}.nii.gz"


class NiftiWriter:
    """Writes ``<pair>_{image,seg,displacement}.nii.gz`` into one method's folder, with
    the fixed image's affine. The displacement is a NIfTI vector image (intent
    "vector"), shape (*spatial, 1, ndim) for 3D or (H, W, 1, 1, 2) for 2D, in voxel
    units, pull-back. Each file is written atomically, the displacement last."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    KINDS = ("image", "seg", "displacement")

    @classmethod
    def folder_for(cls, out_dir: Path, method: str, result_key: str, pairs: Sequence[Pair]) -> Path:
        """``OUT/warped/<method>``, claimed for ``pairs``' files under ``result_key``
        (:func:`regbench.outputs.owned.claim_files`: files it wrote under another key are
        removed, files it did not write are never touched)."""
        folder = out_dir / "warped" / method
        claim_files(folder, result_key, [pair_file(folder, pair, kind) for pair in pairs for kind in cls.KINDS])
        return folder

    def _path(self, pair: Pair, kind: str) -> Path:
        return pair_file(self.folder, pair, kind)

    def has(self, pair: Pair) -> bool:
        """Whether this pair's files are all written."""
        return self._path(pair, "displacement").is_file()

    def __call__(self, pair: Pair, outcome: PairOutcome) -> None:
        affine = subject_affine(outcome.fixed, outcome.spacing)
        save = lambda array, kind: atomic_write(  # noqa: E731
            self._path(pair, kind), lambda path: nib.save(nib.Nifti1Image(array, affine), path))
        save(outcome.warped_image.astype(np.float32), "image")
        if outcome.warped_seg is not None:
            save(outcome.warped_seg.astype(np.int16), "seg")
        field = np.moveaxis(outcome.displacement, 0, -1).astype(np.float32)
        spatial = field.shape[:-1]
        field = field.reshape(*spatial, *([1] * (4 - len(spatial))), field.shape[-1])
        image = nib.Nifti1Image(field, affine)
        image.header.set_intent("vector")
        atomic_write(self._path(pair, "displacement"), lambda path: nib.save(image, path))
