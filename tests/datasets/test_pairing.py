"""Every image is scored with its own label map: files pair by identity, never by
position, and a label map is read exactly as stored, or refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from layouts import learn2reg_oasis, neurite_oasis
from regbench_datasets.l2r import L2rOasis
from regbench_datasets.nifti_pairs import NiftiPairs
from regbench_datasets.oasis import Oasis2d

from regbench.data.nifti import DataError, read_labels
from regbench.outputs.fields import L2rFolder, case_names, field_folder
from regbench.plugin.dataset import Pair

SHAPE = (12, 12)


def write(path, array, dtype=None):
    """A NIfTI file of exactly ``array`` (``dtype``: the stored type, for those nibabel asks to be named)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(array, np.eye(4), dtype=dtype), path)
    return path


def subject(folder, image, seg, number):
    """An image, and a label map holding only ``number``: whose labels a subject got shows."""
    write(folder / image, np.full(SHAPE, float(number), np.float32))
    write(folder / seg, np.full(SHAPE, number, np.int16))


def folder_dataset(folder, images="img_*.nii.gz", segs="seg_*.nii.gz", **options):
    return NiftiPairs(data_dir=str(folder), images=images, segs=segs, ndim=2, **options)


# --- the folder form: images and label maps paired by what the wildcards match ---------------

def test_a_missing_image_and_label_map_never_shift_the_others(tmp_path):
    for number in range(1, 9):
        if number != 5:
            write(tmp_path / f"img_S{number:02d}.nii.gz", np.zeros(SHAPE, np.float32))
        if number != 6:
            write(tmp_path / f"seg_S{number:02d}.nii.gz", np.zeros(SHAPE, np.int16))
    with pytest.raises(DataError) as error:  # by position, img_S06 got seg_S05's labels
        folder_dataset(tmp_path)
    message = str(error.value)
    assert "1 image(s) without a label map (img_S06.nii.gz)" in message
    assert "1 label map(s) without an image (seg_S05.nii.gz)" in message
    assert "img_S07" not in message  # the pairs that match are not blamed


def test_numbers_written_differently_are_not_paired(tmp_path):
    for number in range(1, 11):
        write(tmp_path / f"img_S{number}.nii.gz", np.zeros(SHAPE, np.float32))
        write(tmp_path / f"seg_S{number:02d}.nii.gz", np.zeros(SHAPE, np.int16))
    with pytest.raises(DataError) as error:  # by position, 9 of 10 were mismatched
        folder_dataset(tmp_path)
    message = str(error.value)
    assert "9 image(s) without a label map (img_S1.nii.gz, img_S2.nii.gz, img_S3.nii.gz and 6 more)" in message
    assert "9 label map(s) without an image (seg_S01.nii.gz, seg_S02.nii.gz, seg_S03.nii.gz and 6 more)" in message
    assert "images='img_*.nii.gz'" in message and "segs='seg_*.nii.gz'" in message


def test_each_subject_gets_its_own_labels_where_sorted_order_disagrees(tmp_path):
    # sorted, the images are sub1, sub10, sub11, sub2 but the label maps sub10_seg, sub11_seg, sub1_seg, sub2_seg
    for number in (1, 2, 10, 11):
        subject(tmp_path, f"sub{number}.nii.gz", f"sub{number}_seg.nii.gz", number)
    dataset = folder_dataset(tmp_path, images="*.nii.gz", segs="*_seg.nii.gz")
    assert sorted(dataset.files) == ["sub1", "sub10", "sub11", "sub2"]  # label maps are no subjects
    for number in (1, 2, 10, 11):
        assert set(np.unique(dataset.load(f"sub{number}").seg)) == {number}


def test_subjects_in_subfolders_pair_within_their_folder(tmp_path):
    for number in (1, 2, 3):
        subject(tmp_path / f"S{number}", "t1.nii.gz", "seg.nii.gz", number)
    dataset = folder_dataset(tmp_path, images="*/t1.nii.gz", segs="*/seg.nii.gz")
    assert list(dataset.files) == ["S1/t1", "S2/t1", "S3/t1"]  # one id each, not "t1" three times
    for number in (1, 2, 3):
        assert set(np.unique(dataset.load(f"S{number}/t1").seg)) == {number}


# --- the manifest form ----------------------------------------------------------------------

def manifest(tmp_path, rows):
    path = tmp_path / "pairs.csv"
    path.write_text("fixed,moving,fixed_seg,moving_seg\n" + "\n".join(rows) + "\n")
    return path


def test_manifest_image_with_two_label_maps(tmp_path):
    for number in (1, 2, 3):
        subject(tmp_path, f"img_{number}.nii.gz", f"seg_{number}.nii.gz", number)
    path = manifest(tmp_path, ["img_1.nii.gz,img_2.nii.gz,seg_1.nii.gz,seg_2.nii.gz",
                               "img_1.nii.gz,img_3.nii.gz,seg_3.nii.gz,seg_3.nii.gz"])
    with pytest.raises(DataError, match=r"pairs.csv: image .*img_1.nii.gz has the label map .*seg_1.nii.gz on row 2 "
                                        r"but .*seg_3.nii.gz on row 3; expected one label map per image"):
        NiftiPairs(manifest=str(path), ndim=2)


def test_manifest_images_with_one_name_in_two_folders(tmp_path):
    for folder, number in (("a", 1), ("b", 2)):
        subject(tmp_path / folder, "img.nii.gz", "seg.nii.gz", number)
    path = manifest(tmp_path, ["a/img.nii.gz,b/img.nii.gz,a/seg.nii.gz,b/seg.nii.gz"])
    with pytest.raises(DataError, match=r"two subjects have the id 'img' \(images .*a/img.nii.gz and .*b/img.nii.gz\)"):
        NiftiPairs(manifest=str(path), ndim=2)


# --- Learn2Reg and neurite-OASIS layouts ----------------------------------------------------

def edit_l2r(root, edit):
    path = root / "OASIS_dataset.json"
    description = json.loads(path.read_text())
    edit(description["training"])
    path.write_text(json.dumps(description))


def test_l2r_label_of_another_case(tmp_path):
    root = learn2reg_oasis(tmp_path / "l2r", n=6, shape=(8, 8, 8))
    edit_l2r(root, lambda training: training[0].update(label="./labelsTr/OASIS_0002_0000.nii.gz"))
    with pytest.raises(DataError, match=r"subject './imagesTr/OASIS_0001_0000.nii.gz' has the label "
                                        r"'./labelsTr/OASIS_0002_0000.nii.gz' of another case"):
        L2rOasis(data_dir=str(root))


def test_l2r_two_entries_with_one_id(tmp_path):
    root = learn2reg_oasis(tmp_path / "l2r", n=6, shape=(8, 8, 8))
    for folder in ("imagesTr", "labelsTr"):  # the same case once more, under a name without "_0000"
        shutil.copy(root / folder / "OASIS_0001_0000.nii.gz", root / folder / "OASIS_0001.nii.gz")
    edit_l2r(root, lambda training: training.append({"image": "./imagesTr/OASIS_0001.nii.gz",
                                                     "label": "./labelsTr/OASIS_0001.nii.gz"}))
    with pytest.raises(DataError, match=r"two subjects have the id 'OASIS_0001' \(images .*OASIS_0001_0000.nii.gz "
                                        r"and .*OASIS_0001.nii.gz\)"):
        L2rOasis(data_dir=str(root))


def test_oasis_subject_listed_twice(tmp_path):
    root = neurite_oasis(tmp_path / "n", ndim=2, n=4, shape=SHAPE)
    listing = root / "subjects.txt"
    listing.write_text(listing.read_text() + "OASIS_OAS1_0002_MR1\n")
    with pytest.raises(DataError, match=r"two subjects have the id 'OASIS_OAS1_0002_MR1'"):
        Oasis2d(data_dir=str(root))


# --- Learn2Reg-layout field folders ---------------------------------------------------------

def test_file_safe_names_that_collide():
    with pytest.raises(ValueError, match=r"subjects 'a-b' and 'a_b' both become 'a-b' in Learn2Reg file names"):
        case_names([Pair("a_b", "a-b")])


def test_learn2reg_file_names_are_case_numbers_as_the_challenge_names_them():
    # An id of Learn2Reg's image form, CASE_NNNN_MMMM (MMMM: the image of the case), is case NNNN:
    # both images of an intra-patient case name its pair's file, disp_0101_0101 (fixed[-16:-12]).
    nlst = [Pair("NLST_0101_0000", "NLST_0101_0001"), Pair("NLST_0102_0000", "NLST_0102_0001")]
    assert case_names(nlst) == {"NLST_0101_0000": "0101", "NLST_0101_0001": "0101",
                                "NLST_0102_0000": "0102", "NLST_0102_0001": "0102"}
    assert case_names([Pair("AbdomenCTCT_0001_0000", "AbdomenCTCT_0007_0000")]) == {
        "AbdomenCTCT_0001_0000": "0001", "AbdomenCTCT_0007_0000": "0007"}
    assert case_names([Pair("OASIS_0395", "OASIS_0396")]) == {"OASIS_0395": "0395", "OASIS_0396": "0396"}


@pytest.mark.parametrize(("pairs", "names"), [
    ([Pair("NLST_0101_0000", "NLST_0101_0001"), Pair("NLST_0101_0001", "NLST_0101_0000")],
     ["disp_0101_0000_0101_0001", "disp_0101_0001_0101_0000"]),
    ([Pair("NLST_0101_0001", "NLST_0101_0000")], ["disp_0101_0001_0101_0000"]),  # never disp_0101_0101: not that pair
    ([Pair("NLST_0101_0000", "NLST_0101_0001"), Pair("NLST_0101_0000", "NLST_0101_0002")],
     ["disp_0101_0000_0101_0001", "disp_0101_0000_0101_0002"]),
    ([Pair("AbdomenCTCT_0001_0000", "AbdomenCTCT_0007_0001")], ["disp_0001_0000_0007_0001"]),
], ids=["pair-and-reverse", "reverse-alone", "two-moving-images", "other-image-of-another-case"])
def test_pairs_the_short_name_does_not_fit_get_the_challenge_s_long_name(pairs, names):
    """The challenge's evaluation (2.0) reads disp_FFFF_MMMM within a case only for _0000
    onto _0001; any other pair is disp_FFFF_IIII_MMMM_JJJJ, so no file stands for two pairs."""
    folder = L2rFolder(Path("f"), case_names(pairs))
    assert [folder.path(pair).name.removesuffix(".nii.gz") for pair in pairs] == names


@pytest.mark.parametrize("pairs", [
    [Pair("A_0001_0000", "B_0001_0001")],  # two cases, one number
    [Pair("A_0001_0000", "A_0002"), Pair("B_0002", "A_0001_0001")],
], ids=["two-cases-one-number", "mixed-forms"])
def test_learn2reg_file_names_fall_back_to_ids_where_numbers_would_mislead(pairs):
    ids = {subject for pair in pairs for subject in (pair.fixed_id, pair.moving_id)}
    assert case_names(pairs) == {subject: subject.replace("_", "-") for subject in ids}


def test_fields_that_match_no_pair_are_named(tmp_path, capsys):
    for name in ("disp_0001_0002", "disp_0001_0003", "disp_0004_0001"):
        (tmp_path / f"{name}.nii.gz").touch()
    field_folder(tmp_path, [Pair("OASIS_0001", "OASIS_0002"), Pair("OASIS_0003", "OASIS_0001")])
    assert ("2 field(s) match no test pair of the dataset (disp_0001_0003.nii.gz, disp_0004_0001.nii.gz); "
            "they are not scored") in capsys.readouterr().err


# --- label maps read exactly as stored ------------------------------------------------------

@pytest.mark.parametrize(("value", "dtype", "shown"), [
    (2**32 - 1, np.uint32, "4294967295"),
    (2**40, np.int64, "1099511627776"),
    (2**31, np.uint64, "2147483648"),
    (3e9, np.float32, "3000000000"),
    (1e20, np.float64, "100000000000000000000"),
])
def test_labels_beyond_int32(tmp_path, value, dtype, shown):
    labels = np.zeros(SHAPE, dtype)
    labels[3, 4] = value  # cast to int32, it would wrap onto another label or below 0
    path = write(tmp_path / "seg.nii.gz", labels, dtype=dtype)
    with pytest.raises(DataError, match=rf"seg.nii.gz holds label {shown}, beyond the largest label regbench takes "
                                        r"\(2147483647\)"):
        read_labels(path, ndim=2)


def test_in_range_labels_load_exactly(tmp_path):
    labels = np.arange(144, dtype=np.uint16).reshape(SHAPE) * 455  # up to 65065
    labels[0, 0] = 65535
    path = write(tmp_path / "seg.nii.gz", labels, dtype=np.uint16)
    loaded = read_labels(path, ndim=2)
    assert loaded.dtype == np.int32
    np.testing.assert_array_equal(loaded, labels.astype(np.int64))


# --- found by a hostile pass: files that agree on everything a voxel comparison needs -------

def _folder(tmp_path, count=5):
    for number in range(1, count + 1):
        subject(tmp_path, f"img_S{number}.nii.gz", f"seg_S{number}.nii.gz", number)
    return tmp_path


def test_a_pair_listed_twice_is_refused_not_counted_twice(tmp_path):
    _folder(tmp_path)
    listing = tmp_path / "pairs.csv"
    listing.write_text("fixed,moving\nimg_S1,img_S2\nimg_S1,img_S2\n")
    with pytest.raises(DataError, match="line 3: the pair 'img_S1,img_S2' is listed twice"):
        folder_dataset(tmp_path, pairs=str(listing))


def test_subjects_of_another_voxel_spacing_or_orientation_are_refused(tmp_path):
    _folder(tmp_path)
    nib.save(nib.Nifti1Image(np.zeros(SHAPE, np.float32), np.diag([3.0, 3.0, 3.0, 1.0])), tmp_path / "img_S3.nii.gz")
    with pytest.raises(DataError, match=r"differ in voxel spacing or orientation .*img_S3: 3x3 mm"):
        folder_dataset(tmp_path).validate()
    nib.save(nib.Nifti1Image(np.zeros(SHAPE, np.float32), np.diag([-1.0, 1.0, 1.0, 1.0])), tmp_path / "img_S3.nii.gz")
    with pytest.raises(DataError, match="img_S3: 1x1 mm, LA"):
        folder_dataset(tmp_path).validate()


def test_every_label_of_any_label_map_is_scored(tmp_path):
    _folder(tmp_path)  # subject n holds label n only: no one map holds them all
    assert list(folder_dataset(tmp_path).labels) == [1, 2, 3, 4, 5]


def test_a_subject_id_holding_the_pair_separator_is_refused(tmp_path):
    _folder(tmp_path, 3)
    subject(tmp_path, "img_a->b.nii.gz", "seg_a->b.nii.gz", 4)
    with pytest.raises(DataError, match="'img_a->b'.* holds '->'"):
        folder_dataset(tmp_path)


def test_a_manifest_s_symbolic_link_keeps_its_own_name(tmp_path):
    _folder(tmp_path, 3)
    (tmp_path / "link.nii.gz").symlink_to(tmp_path / "img_S3.nii.gz")
    manifest = tmp_path / "pairs.csv"
    manifest.write_text("fixed,moving\nimg_S1.nii.gz,link.nii.gz\nimg_S1.nii.gz,img_S3.nii.gz\n")
    dataset = NiftiPairs(manifest=str(manifest), ndim=2)
    assert [pair.id for pair in dataset.test_pairs()] == ["link->img_S1", "img_S3->img_S1"]


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d["training"][1].pop("image"), r"'training' entry 2 has no 'image' path"),
    (lambda d: d["registration_val"][0].pop("fixed"), r"'registration_val' entry 1 has no 'fixed' path"),
    (lambda d: d.update(labels={"background": "0", "wm": "1"}), r"'labels' must map label numbers to names"),
], ids=["no-image", "no-fixed", "named-keys"])
def test_an_incomplete_learn2reg_description_is_one_error_naming_the_entry(tmp_path, edit, message):
    root = learn2reg_oasis(tmp_path / "l2r", n=6, shape=(8, 8, 8))
    path = root / "OASIS_dataset.json"
    description = json.loads(path.read_text())
    edit(description)
    path.write_text(json.dumps(description))
    with pytest.raises(DataError, match=message):
        L2rOasis(data_dir=str(root)).test_pairs()
