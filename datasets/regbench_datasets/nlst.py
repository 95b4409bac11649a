"""``l2r-nlst``: the Learn2Reg NLST task (lung CT, intra-patient, 3D), scored at its
keypoints (TRE).

Users bring the data. Layout of the root folder::

    NLST_dataset.json    "training": [{"image": "./imagesTr/NLST_0001_0000.nii.gz"}, ...]
                         "registration_val": [{"fixed": "./imagesTr/NLST_0101_0000.nii.gz",
                                               "moving": "./imagesTr/NLST_0101_0001.nii.gz"}, ...]
    imagesTr/NLST_0001_0000.nii.gz ...       224x192x224, 1.5 mm
    keypointsTr/NLST_0001_0000.csv ...       one keypoint a line: 3 voxel coordinates
    masksTr/NLST_0001_0000.nii.gz ...        lung masks (not read)

Case ``NNNN`` has two images, ``NLST_NNNN_0000`` (the fixed one) and ``NLST_NNNN_0001``
(the moving one); each is a subject of its own, named by its file (``NLST_0101_0000``).
The test pairs are the task's ``registration_val`` pairs (their images are subjects
whether ``training`` lists them or not); every other image trains (learning methods
on random pairs).

An image's keypoints are the ``keypoints`` file its entry names, else the file the
challenge's evaluation reads: the image path with ``images`` replaced by ``keypoints``
and ``.nii.gz`` by ``.csv``. They are Learn2Reg's CSV
(:func:`regbench.data.read_landmarks`): voxel coordinates along the array axes as
nibabel reads them, row ``i`` of both images of a case one point. Every image of a
``registration_val`` pair must have them; other images may lack them.

There are no label maps, so the pairs are scored by TRE (``--metrics tre,l2r-tre``) and
the field's regularity, not by Dice. A field exported for Learn2Reg is
``disp_0101_0101.nii.gz`` (both images' case number), as the challenge names it.
Intensities are normalised by percentile by default (``normalize=percentile``).
"""

from __future__ import annotations

from pathlib import Path

from regbench import Dataset, Pair, Registry, hookimpl
from regbench.data import DataError, SubjectFiles
from regbench_datasets.l2r import Learn2RegTask


def keypoints_name(image_name: str) -> str:
    """Where the challenge's evaluation looks for an image's keypoints:
    ``./imagesTr/NLST_0101_0000.nii.gz`` -> ``./keypointsTr/NLST_0101_0000.csv``."""
    return image_name.replace("images", "keypoints").replace(".nii.gz", ".csv")


class L2rNlst(Learn2RegTask):
    name = "l2r-nlst"
    description = ("Learn2Reg NLST (lung CT, 3D, 224x192x224, keypoints, no labels), its registration_val pairs "
                   "scored by TRE (bring the data: --data-dir)")
    description_file = "NLST_dataset.json"
    # CT intensities are Hounsfield units (about -1000 to 3000): clipped to their 1st-99th
    # percentile and scaled to [0, 1], as learning methods expect; classical ones are unaffected.
    default_options = {**Learn2RegTask.default_options, "normalize": "percentile"}

    def entry_files(self, entry: dict, image_name: str, image: Path) -> SubjectFiles:
        named = entry.get("keypoints")
        if named is not None:  # a file the description names must be there
            if not isinstance(named, str) or not named:
                raise DataError(f"{self.description_file}: image {image_name!r} has a 'keypoints' entry {named!r}; "
                                f"expected the path of its keypoint CSV")
            return SubjectFiles(self.subject_id(image_name), image, landmarks=self._entry_file(named))
        derived = self.root / keypoints_name(image_name)
        return SubjectFiles(self.subject_id(image_name), image, landmarks=derived if derived.is_file() else None)

    def list_subjects(self) -> list[SubjectFiles]:
        """The ``training`` images, and those of ``registration_val`` it does not list."""
        files = super().list_subjects()
        listed = {subject.id for subject in files}
        for number, pair in enumerate(self._description["registration_val"], start=1):
            for side in ("fixed", "moving"):
                image_name = self._field(pair, side, f"'registration_val' entry {number}")
                if self.subject_id(image_name) not in listed:
                    files.append(self.entry_files({}, image_name, self._entry_file(image_name)))
                    listed.add(files[-1].id)
        return files

    def label_names(self) -> dict[int, str]:
        """None: NLST has no label maps (its masks are lung masks, not scored)."""
        return {}

    def _val_pairs(self) -> list[Pair]:
        """The registration_val pairs, each image with its keypoints (the task is scored by TRE)."""
        pairs = super()._val_pairs()
        for subject_id in dict.fromkeys(sid for pair in pairs for sid in (pair.fixed_id, pair.moving_id)):
            files = self.files[subject_id]
            if files.landmarks is None:
                image_name = f"./{files.image.relative_to(self.root).as_posix()}"
                raise DataError(f"dataset {self.name!r}: registration_val image {files.image} has no keypoints: "
                                f"{self.root / keypoints_name(image_name)} does not exist; expected Learn2Reg's "
                                f"keypoint CSV of every image of a validation pair (TRE is measured at them)")
        return pairs


@hookimpl
def regbench_register_datasets(register: Registry[Dataset]) -> None:
    register(L2rNlst)
