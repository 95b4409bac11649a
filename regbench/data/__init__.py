"""Helpers for dataset plugins: folders of NIfTI files (and landmark files) read and
checked one subject at a time; random smooth deformations, and their inverses, and
images synthesised from label maps, for generated data."""

from regbench.data.deformations import invert_field, random_affine_field, random_smooth_field
from regbench.data.errors import DataError, require_dir, require_file
from regbench.data.landmarks import read_landmarks
from regbench.data.nifti import NiftiDataset, SubjectFiles, nifti_stem, read_image, read_label_names, read_labels
from regbench.data.synthesis import image_from_labels, label_means

__all__ = [
    "DataError",
    "NiftiDataset",
    "SubjectFiles",
    "image_from_labels",
    "invert_field",
    "label_means",
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
