"""Helpers for dataset plugins: folders of NIfTI files read and checked one subject at
a time, and random smooth deformations for generated data."""

from regbench.data.deformations import random_affine_field, random_smooth_field
from regbench.data.nifti import (
    DataError,
    NiftiDataset,
    SubjectFiles,
    read_image,
    read_label_names,
    read_labels,
    require_dir,
    require_file,
)

__all__ = [
    "DataError",
    "NiftiDataset",
    "SubjectFiles",
    "random_affine_field",
    "random_smooth_field",
    "read_image",
    "read_label_names",
    "read_labels",
    "require_dir",
    "require_file",
]
