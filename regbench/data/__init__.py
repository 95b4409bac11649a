"""Helpers for dataset plugins: folders of NIfTI files (and landmark files) read and
checked one subject at a time; random smooth deformations, and their inverses, for
generated data."""

from regbench.data.deformations import invert_field, random_affine_field, random_smooth_field
from regbench.data.errors import DataError, require_dir, require_file
from regbench.data.landmarks import read_landmarks
from regbench.data.nifti import NiftiDataset, SubjectFiles, nifti_stem, read_image, read_label_names, read_labels

__all__ = [
    "DataError",
    "NiftiDataset",
    "SubjectFiles",
    "invert_field",
    "nifti_stem",
    "random_affine_field",
    "random_smooth_field",
    "read_image",
    "read_label_names",
    "read_landmarks",
    "read_labels",
    "require_dir",
    "require_file",
]
