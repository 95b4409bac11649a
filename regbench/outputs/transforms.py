"""Fields as ITK transforms: files that ANTs, ITK/SimpleITK, 3D Slicer and nitransforms
apply, named as BIDS derivatives name transforms; and transforms made by those tools,
read back as the fields regbench scores.

regbench's field ``u`` is in voxels along the array axes of the fixed image, pulling
back: ``warped[x] = moving[x + u(x)]``. ITK's displacement-field transform maps a point
``p`` of the fixed image (physical, millimetres, LPS: x to the patient's left, y to the
back) to ``p + d(p)`` in the moving image. With ``A_f`` and ``A_m`` the fixed and moving
images' voxel-to-world affines (NIfTI's, RAS) and ``F`` the flip from RAS to LPS::

    d(x) = F (A_m (x + u(x)) - A_f x)

Files, one per method and pair: ``DIR/<method>/sub-<moving>_from-<moving>_to-<fixed>_mode-image_xfm.<ext>``
(:func:`xfm_stem`; subject ids with their letters and digits only, as BIDS labels are):

- ``--export itk``: ``.nii.gz``, as ANTs writes its ``*Warp.nii.gz``: a 5-D NIfTI
  ``(X, Y, Z, 1, 3)`` (2D: ``(X, Y, 1, 1, 2)``), intent vector (1007), float32, the
  fixed image's affine, vectors in LPS millimetres (written with nibabel);
- ``--export itk-h5``: ``.h5``, ITK's HDF5 transform file holding one
  ``DisplacementFieldTransform`` (written with SimpleITK: ``pip install 'regbench[itk]'``).

``regbench evaluate`` reads a folder of such files, and what ANTs and elastix leave
(:func:`transform_files`): per pair, ``<stem>.h5`` / ``.nii.gz`` / ``.mat`` / ``.txt`` /
``.tfm`` (one ITK transform, composite or not), ``<stem>_Composite.h5``
(``antsRegistration --write-composite-transform 1``), or the numbered forward outputs of
``antsRegistration -o <stem>_`` (``<stem>_0GenericAffine.mat``, ``<stem>_1Warp.nii.gz``;
the inverse ones are ignored); ``<stem>.txt`` may also be an elastix
``TransformParameters`` file (read with transformix: ``pip install 'regbench[elastix]'``).
ITK transforms are composed with antspyx (``ants.apply_transforms(..., compose=...)``:
``pip install 'regbench[ants]'``) on the fixed image's grid, as ANTs applies them.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import nibabel as nib
import numpy as np

from regbench.common.atomic import atomic_write
from regbench.outputs.nifti import subject_affine
from regbench.outputs.owned import claim_files
from regbench.plugin.dataset import Pair, Subject

_LPS = np.array([-1.0, -1.0, 1.0])  # RAS -> LPS: x and y change sign
SINGLE_SUFFIXES = (".h5", ".nii.gz", ".mat", ".txt", ".tfm")  # one ITK transform (or elastix's .txt)
# antsRegistration -o PREFIX: PREFIX0GenericAffine.mat, PREFIX1Warp.nii.gz (and inverses, not read)
_ANTS_OUTPUT = re.compile(r"_?(\d+)([A-Za-z]+)\.(mat|nii\.gz|nii|h5|txt)")


def planar_affine(affine: np.ndarray, ndim: int) -> np.ndarray:
    """The ``(ndim + 1)²`` voxel-to-world affine of an ``ndim``-D image from NIfTI's 4×4
    (a 2D image's third axis, of one voxel, dropped)."""
    keep = [*range(ndim), 3]
    return np.asarray(affine, dtype=np.float64)[np.ix_(keep, keep)]


def itk_grid(affine: np.ndarray, ndim: int) -> tuple[tuple[float, ...], tuple[float, ...], np.ndarray]:
    """The origin, spacing and direction (``ndim × ndim``, columns the axes) ITK gives an
    image whose NIfTI affine is ``affine``: in LPS."""
    planar = planar_affine(affine, ndim)
    flip = _LPS[:ndim, None]
    linear, origin = flip * planar[:ndim, :ndim], flip[:, 0] * planar[:ndim, ndim]
    spacing = np.linalg.norm(linear, axis=0)
    return tuple(origin.tolist()), tuple(spacing.tolist()), linear / spacing


def _apply(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``affine`` (homogeneous, ``(n + 1)²``) applied to ``points`` of shape ``(n, *grid)``."""
    n = points.shape[0]
    return np.tensordot(affine[:n, :n], points, axes=1) + affine[:n, n].reshape(n, *([1] * (points.ndim - 1)))


def physical_field(displacement: np.ndarray, fixed_affine: np.ndarray, moving_affine: np.ndarray) -> np.ndarray:
    """``d = F (A_m (x + u) - A_f x)`` (module doc), shape ``(ndim, *spatial)``, float64, LPS mm."""
    ndim = displacement.shape[0]
    grid = np.indices(displacement.shape[1:], dtype=np.float64)
    moved = _apply(planar_affine(moving_affine, ndim), grid + displacement)
    return _LPS[:ndim].reshape(ndim, *([1] * ndim)) * (moved - _apply(planar_affine(fixed_affine, ndim), grid))


def voxel_field(physical: np.ndarray, fixed_affine: np.ndarray, moving_affine: np.ndarray) -> np.ndarray:
    """The inverse of :func:`physical_field`: regbench's ``u`` (float32) from ITK's ``d``."""
    ndim = physical.shape[0]
    grid = np.indices(physical.shape[1:], dtype=np.float64)
    flip = _LPS[:ndim].reshape(ndim, *([1] * ndim))
    points = _apply(planar_affine(fixed_affine, ndim), grid) + flip * physical  # in the moving image, RAS
    return (_apply(np.linalg.inv(planar_affine(moving_affine, ndim)), points) - grid).astype(np.float32)


def _label(subject: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "", subject)


def xfm_labels(pairs: Iterable[Pair]) -> dict[str, str]:
    """Each subject's label in file names: its id with letters and digits only (BIDS
    labels have nothing else); a ValueError naming both when two ids become one label."""
    labels: dict[str, str] = {}
    owners: dict[str, str] = {}
    for subject in sorted({subject for pair in pairs for subject in (pair.fixed_id, pair.moving_id)}):
        label = _label(subject)
        other = owners.setdefault(label, subject)
        if not label or other != subject:
            raise ValueError(f"subjects {other!r} and {subject!r} both become {label!r} in transform file names "
                             f"(sub-<moving>_from-<moving>_to-<fixed>_mode-image_xfm); expected ids that differ in "
                             f"letters or digits" if label else f"subject {subject!r} has no letter or digit to name "
                             f"its transform files by")
        labels[subject] = label
    return labels


def xfm_stem(labels: Mapping[str, str], pair: Pair) -> str:
    """``sub-<moving>_from-<moving>_to-<fixed>_mode-image_xfm``: the transform that resamples
    the moving image onto the fixed one, as fMRIPrep names ``from-T1w_to-MNI..._xfm.h5``."""
    moving, fixed = labels[pair.moving_id], labels[pair.fixed_id]
    return f"sub-{moving}_from-{moving}_to-{fixed}_mode-image_xfm"


def _affines(fixed: Subject, moving: Subject, spacing: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The fixed and moving images' voxel-to-world affines (the spacing standing in where they have none)."""
    return subject_affine(fixed, spacing), subject_affine(moving, spacing)


def _nifti_field(physical: np.ndarray, fixed_affine: np.ndarray) -> nib.Nifti1Image:
    """ANTs' warp-file layout (module doc) of an LPS field ``(ndim, *spatial)``."""
    ndim = physical.shape[0]
    field = np.moveaxis(physical, 0, -1).astype(np.float32)
    field = field.reshape(*field.shape[:ndim], *([1] * (4 - ndim)), ndim)
    image = nib.Nifti1Image(field, fixed_affine)
    image.header.set_intent("vector")
    return image


def _write_nifti(path: Path, physical: np.ndarray, fixed_affine: np.ndarray) -> None:
    image = _nifti_field(physical, fixed_affine)
    atomic_write(path, lambda partial: nib.save(image, partial))


def h5_writer():  # noqa: ANN202 - the SimpleITK module
    """SimpleITK, which writes ITK's .h5 transform files; a ValueError saying how to
    install it where it is not (checked before a run's work, by :func:`regbench.outputs.fields.check_export`)."""
    try:
        import SimpleITK  # noqa: PLC0415, N813 - an extra: only where .h5 files are written
    except ImportError:
        raise ValueError("writing ITK .h5 transforms needs SimpleITK: pip install 'regbench[itk]' "
                         "(or export .nii.gz warps: --export itk)") from None
    return SimpleITK


def _write_h5(path: Path, physical: np.ndarray, fixed_affine: np.ndarray) -> None:
    sitk = h5_writer()
    ndim = physical.shape[0]
    # SimpleITK's arrays run (z, y, x): the spatial axes reversed, the components last.
    pixels = np.ascontiguousarray(np.moveaxis(physical, 0, -1).transpose(*reversed(range(ndim)), ndim))
    image = sitk.GetImageFromArray(pixels.astype(np.float64), isVector=True)
    origin, spacing, direction = itk_grid(fixed_affine, ndim)
    image.SetOrigin(origin)
    image.SetSpacing(spacing)
    image.SetDirection(tuple(direction.ravel().tolist()))
    transform = sitk.DisplacementFieldTransform(image)
    atomic_write(path, lambda partial: sitk.WriteTransform(transform, str(partial)))


@dataclass(frozen=True)
class ItkFolder:
    """One method's fields as ITK transforms (module doc), ``suffix`` the kind of file."""

    folder: Path
    labels: Mapping[str, str]  # subject id -> its label in file names (:func:`xfm_labels`)
    suffix: str = ".nii.gz"

    WRITERS: ClassVar = {".nii.gz": _write_nifti, ".h5": _write_h5}

    @classmethod
    def for_method(cls, root: Path, method: str, result_key: str, all_pairs: Sequence[Pair],
                   written: Sequence[Pair], suffix: str = ".nii.gz") -> ItkFolder:
        """``root/<method>``, file names from ``all_pairs``, claimed for the ``written``
        pairs' files under ``result_key`` (:func:`regbench.outputs.owned.claim_files`)."""
        exported = cls(root / method, xfm_labels(all_pairs), suffix)
        claim_files(exported.folder, result_key, [exported.path(pair) for pair in written])
        return exported

    def path(self, pair: Pair) -> Path:
        return self.folder / f"{xfm_stem(self.labels, pair)}{self.suffix}"

    def has(self, pair: Pair) -> bool:
        return self.path(pair).is_file()

    def write(self, pair: Pair, displacement: np.ndarray, fixed: Subject, moving: Subject,
              spacing: tuple[float, ...]) -> None:
        """Written atomically, in LPS millimetres on the fixed image's grid."""
        fixed_affine, moving_affine = _affines(fixed, moving, spacing)
        physical = physical_field(np.asarray(displacement, dtype=np.float64), fixed_affine, moving_affine)
        self.WRITERS[self.suffix](self.path(pair), physical, fixed_affine)


def transform_files(folder: Path, stem: str) -> list[Path]:
    """The pair's transform files in ``folder``, in the order ANTs applies a list
    (``ants.apply_transforms``' ``transformlist``: the last one acts first on a point of
    the fixed image); empty when there are none; a ValueError when they are ambiguous."""
    single = [folder / f"{stem}{suffix}" for suffix in SINGLE_SUFFIXES if (folder / f"{stem}{suffix}").is_file()]
    composite = folder / f"{stem}_Composite.h5"
    if composite.is_file():
        single.append(composite)
    numbered = {}
    for path in folder.glob(f"{stem}*"):
        match = _ANTS_OUTPUT.fullmatch(path.name[len(stem):])
        if match and "Inverse" not in match.group(2):
            numbered.setdefault(int(match.group(1)), []).append(path)
    found = [*single, *(path for paths in numbered.values() for path in paths)]
    if len(single) > 1 or (single and numbered) or any(len(paths) > 1 for paths in numbered.values()):
        raise ValueError(f"several transforms for one pair: {', '.join(sorted(path.name for path in found))}; "
                         f"expected one {stem}.<h5|nii.gz|mat|txt|tfm>, {stem}_Composite.h5, or antsRegistration's "
                         f"numbered outputs ({stem}_0GenericAffine.mat, {stem}_1Warp.nii.gz)")
    return single or [numbered[number][0] for number in sorted(numbered, reverse=True)]


def _ants():  # noqa: ANN202 - the ants module
    try:
        import ants  # noqa: PLC0415 - an extra: only where transforms are read
    except ImportError:
        raise ValueError("reading ITK/ANTs transforms needs antspyx: pip install 'regbench[ants]'") from None
    return ants


def _ants_image(array: np.ndarray, affine: np.ndarray):  # noqa: ANN202 - an ants.ANTsImage
    """``array`` on the grid ITK reads from a NIfTI with ``affine``."""
    origin, spacing, direction = itk_grid(affine, array.ndim)
    return _ants().from_numpy(np.ascontiguousarray(array, dtype=np.float32), origin=origin, spacing=spacing,
                              direction=direction)


def _corners(affine: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The world coordinates of the outer corners of an image's voxels, ``(2**ndim, ndim)``."""
    ndim = len(shape)
    corners = np.array(np.meshgrid(*[(-0.5, size - 0.5) for size in shape], indexing="ij")).reshape(ndim, -1)
    return _apply(planar_affine(affine, ndim), corners).T


def check_field_grid(path: Path, fixed_shape: tuple[int, ...], fixed_affine: np.ndarray) -> None:
    """A ValueError when the displacement field in NIfTI ``path`` covers another region of
    space than the fixed image (beyond one voxel): a field made on other coordinates, such
    as images handed to ANTs without their affines (``ants.from_numpy``), would be read
    as a wrong field that looks right. A field at another resolution over the same
    region passes."""
    image = nib.load(path)
    ndim = len(fixed_shape)
    shape = tuple(int(size) for size in image.shape[:ndim])
    offset = np.abs(_corners(image.affine, shape) - _corners(fixed_affine, fixed_shape)).max()
    tolerance = np.linalg.norm(planar_affine(fixed_affine, ndim)[:ndim, :ndim], axis=0).max()
    if offset > tolerance:
        raise ValueError(f"{path.name} covers another region of space than the fixed image (its corners "
                         f"{offset:.3g} mm away): made on other coordinates than the images' NIfTI affines "
                         f"(register the images as the dataset's files give them, e.g. ants.image_read)")


def _composed(files: Sequence[Path], fixed: np.ndarray, fixed_affine: np.ndarray, moving: np.ndarray,
              moving_affine: np.ndarray) -> np.ndarray:
    """ITK transforms composed by antspyx into one LPS field ``(ndim, *spatial)`` on the fixed grid."""
    with tempfile.TemporaryDirectory(prefix="regbench-compose-") as workdir:
        composed = _ants().apply_transforms(_ants_image(fixed, fixed_affine), _ants_image(moving, moving_affine),
                                            [str(path) for path in files], compose=f"{workdir}/")
        if not isinstance(composed, str) or not Path(composed).is_file():
            raise ValueError(f"ANTs could not read {', '.join(path.name for path in files)} as ITK transforms")
        data = np.asarray(nib.load(composed).dataobj, dtype=np.float64)
    ndim = fixed.ndim
    return np.moveaxis(data.reshape(*data.shape[:ndim], ndim), -1, 0)


def _is_elastix(path: Path) -> bool:
    """Whether ``path`` is an elastix parameter file (``(Transform "...")`` lines)."""
    if path.suffix != ".txt":
        return False
    with path.open(encoding="utf-8", errors="replace") as lines:
        return any(line.lstrip().startswith("(Transform ") for line in lines)


def _transformix(path: Path, fixed: np.ndarray, fixed_affine: np.ndarray) -> np.ndarray:
    """An elastix transform's LPS field ``(ndim, *spatial)``, by transformix, on the grid the
    file names: it must be the fixed image's."""
    try:
        import itk  # noqa: PLC0415 - an extra: only where elastix files are read
    except ImportError:
        raise ValueError("reading elastix transforms needs itk-elastix: pip install 'regbench[elastix]'") from None
    parameters = itk.ParameterObject.New()
    parameters.ReadParameterFile(str(path))
    ndim = fixed.ndim
    origin, spacing, direction = itk_grid(fixed_affine, ndim)
    size = [int(value) for value in parameters.GetParameter(0, "Size")]
    if size != list(fixed.shape):  # ITK's x axis is the NIfTI's first voxel axis, as regbench's arrays run
        raise ValueError(f"{path.name}: the transform's grid has size {size}; the fixed image's is {list(fixed.shape)}")
    for name, expected in (("Origin", origin), ("Spacing", spacing), ("Direction", direction.T.ravel())):
        value = np.array([float(item) for item in parameters.GetParameter(0, name)])
        if not np.allclose(value, expected, atol=1e-4):
            raise ValueError(f"{path.name}: the transform's {name} is {value.tolist()}; the fixed image's is "
                             f"{np.round(expected, 6).tolist()} (register with the fixed image as the dataset "
                             f"gives it, its NIfTI affine)")
    image = itk.GetImageFromArray(np.ascontiguousarray(fixed, dtype=np.float32))  # its type only: the file's grid
    with tempfile.TemporaryDirectory(prefix="regbench-transformix-") as workdir:
        field = np.asarray(itk.GetArrayFromImage(
            itk.transformix_deformation_field(image, parameters, output_directory=workdir)), dtype=np.float64)
    # ITK's arrays run (z, y, x): reversed to the NIfTI's voxel order; the components are LPS x, y, z already
    return np.moveaxis(field.transpose(*reversed(range(ndim)), ndim), -1, 0)


@dataclass(frozen=True)
class TransformFolder:
    """One method's transforms, one (or ANTs' numbered few) per pair (module doc)."""

    folder: Path
    labels: Mapping[str, str]

    def stem(self, pair: Pair) -> str:
        return xfm_stem(self.labels, pair)

    def path(self, pair: Pair) -> Path:
        """The pair's first transform file; when it has none, the names expected (no file's)."""
        files = transform_files(self.folder, self.stem(pair))
        return files[0] if files else self.folder / f"{self.stem(pair)}.<h5|nii.gz|mat|txt|tfm>"

    def read(self, pair: Pair, fixed: Subject, moving: Subject, spacing: tuple[float, ...]) -> np.ndarray:
        """The pair's transforms composed into regbench's field ``(ndim, *spatial)``."""
        files = transform_files(self.folder, self.stem(pair))
        if not files:
            raise ValueError(f"no transform for this pair: {self.path(pair)} not found")
        fixed_affine, moving_affine = _affines(fixed, moving, spacing)
        if len(files) == 1 and _is_elastix(files[0]):
            physical = _transformix(files[0], fixed.image, fixed_affine)
        else:
            for path in files:
                if path.name.endswith((".nii", ".nii.gz")):
                    check_field_grid(path, fixed.image.shape, fixed_affine)
            physical = _composed(files, fixed.image, fixed_affine, moving.image, moving_affine)
        return voxel_field(physical, fixed_affine, moving_affine)
