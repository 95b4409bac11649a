"""The dataset plugins users bring data to, on tiny fixtures in each exact layout,
through `regbench run` in 2D and 3D; and every bad input they may meet."""

from __future__ import annotations

import gzip
import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from layouts import learn2reg_oasis, neurite_oasis, nifti_folder, nifti_manifest, save
from regbench_datasets.l2r import L2rOasis
from regbench_datasets.nifti_pairs import NiftiPairs
from regbench_datasets.oasis import Oasis2d, Oasis3d

from regbench.cli import main
from regbench.data.nifti import DataError
from regbench.plugin.training import PROFILES, Profile


@pytest.fixture(autouse=True)
def tiny_profile(monkeypatch):
    monkeypatch.setitem(PROFILES, "tiny", Profile("tiny", batch_size=2, lr=1e-3, steps=3))


def run(tmp_path, dataset, data_dir, methods, *extra):
    """``regbench run`` on a layout, in this process: the layouts are the point here, the
    worker processes are tests/execution's (each would spend seconds importing torch)."""
    out = tmp_path / "out"
    code = main(["run", "--methods", methods, "--dataset", dataset, "--data-dir", str(data_dir), "--profile", "tiny",
                 "--cache-dir", str(tmp_path / "cache"), "--no-progress", "--no-isolation", "--out", str(out),
                 *extra])
    return code, out


def ants_methods():
    try:
        import ants  # noqa: F401, PLC0415
    except ImportError:
        return ""
    return ",ants-affine,ants-syn"


def test_oasis2d_layout_runs_end_to_end(tmp_path):
    root = neurite_oasis(tmp_path / "neurite2d", ndim=2)
    code, out = run(tmp_path, "oasis2d", root, "identity,vxm1,eca-unet" + ants_methods())
    assert code == 0
    results = pd.read_csv(out / "results.csv")
    assert set(results["status"]) == {"ok"}
    assert results["pair"].str.endswith("->OASIS_OAS1_0001_MR1").all()  # the first subject is the atlas
    labels = pd.read_csv(out / "label_metrics.csv")
    assert set(labels["label"]) == {"Left-Cerebral-White-Matter", "Left-Cerebral-Cortex", "Left-Lateral-Ventricle",
                                    "Left-Thalamus"}


def test_oasis3d_runs_every_method_in_3d(tmp_path):
    root = neurite_oasis(tmp_path / "neurite3d", ndim=3, n=7)
    code, out = run(tmp_path, "oasis3d", root, "identity,vxm1,vxm2,eca-unet" + ants_methods(),
                    "--dataset-option", "atlas=OASIS_OAS1_0003_MR1")
    assert code == 0
    results = pd.read_csv(out / "results.csv")
    assert set(results["status"]) == {"ok"}, results[["method", "error"]]
    assert results["pair"].str.endswith("->OASIS_OAS1_0003_MR1").all()
    for column in ("dice_mean", "hd95_mean", "folding_percent", "sdlogj"):
        assert results[column].notna().all()
    seg4 = Oasis3d(data_dir=str(root), seg=4)
    assert seg4.load(seg4.train_ids[0]).seg.max() <= 4


def test_learn2reg_layout_uses_its_validation_pairs(tmp_path):
    root = learn2reg_oasis(tmp_path / "l2r")
    dataset = L2rOasis(data_dir=str(root))
    assert [p.id for p in dataset.test_pairs()] == ["OASIS_0006->OASIS_0005", "OASIS_0008->OASIS_0007"]
    assert dataset.atlas_id is None and set(dataset.train_ids) == {f"OASIS_{i:04d}" for i in range(1, 5)}
    assert dataset.load("OASIS_0001").image.shape == (32, 32, 32)  # the file's own axis order
    code, out = run(tmp_path, "l2r-oasis", root, "identity,vxm1")  # vxm1 trains on random pairs
    assert code == 0
    results = pd.read_csv(out / "results.csv")
    assert set(results["status"]) == {"ok"} and results["pair"].nunique() == 2


def test_nifti_pairs_from_a_manifest_and_from_a_folder(tmp_path):
    manifest = nifti_manifest(tmp_path / "mine")
    code, out = run(tmp_path, "nifti-pairs", manifest.parent, "identity", "--dataset-option", f"manifest={manifest}")
    assert code == 0
    results = pd.read_csv(out / "results.csv")
    assert results["pair"].tolist() == ["img_01->img_00", "img_02->img_00"]
    dataset = NiftiPairs(manifest=str(manifest))
    assert 0.0 <= dataset.load("img_01").image.min() and dataset.load("img_01").image.max() == 1.0  # minmax

    folder = nifti_folder(tmp_path / "folder", n=6)
    dataset = NiftiPairs(data_dir=str(folder), images="img_*.nii.gz", segs="seg_*.nii.gz", atlas="img_02")
    assert dataset.atlas_id == "img_02" and len(dataset.train_ids) + len(dataset.test_ids) == 5
    assert dataset.load("img_00").seg is not None


def test_shared_options(tmp_path):
    root = neurite_oasis(tmp_path / "n3", ndim=3, n=11)
    dataset = Oasis3d(data_dir=str(root), labels=(1, 3), shape=(24, 40, 32), normalize="percentile",
                      seed=5, test_fraction=0.3)
    subject = dataset.load(dataset.test_ids[0])
    assert subject.image.shape == (24, 40, 32) and subject.seg.shape == (24, 40, 32)
    assert set(np.unique(subject.seg)) <= {0, 1, 3} and list(dataset.labels) == [1, 3]
    assert subject.image.min() == 0.0 and subject.image.max() == 1.0
    assert (len(dataset.train_ids), len(dataset.test_ids)) == (7, 3)  # 10 besides the atlas, split 7:3
    # crop (32 -> 24) and pad (32 -> 40) move the origin: voxel (0,0,0) is old voxel (4,-4,0)
    np.testing.assert_array_equal(subject.affine[:3, 3], [4.0, -4.0, 0.0])
    other_seed = Oasis3d(data_dir=str(root), seed=6)
    assert other_seed.test_ids != Oasis3d(data_dir=str(root), seed=5).test_ids


def test_loading_streams_one_subject_at_a_time(tmp_path):
    root = neurite_oasis(tmp_path / "n", ndim=3, n=6)
    dataset = Oasis3d(data_dir=str(root))
    first = dataset.load(dataset.train_ids[0])
    assert not any(isinstance(v, np.ndarray) for v in vars(dataset).values())  # nothing kept per subject
    np.testing.assert_array_equal(first.image, dataset.load(dataset.train_ids[0]).image)


# --- bad input: one clear error naming the path, before any training ------------------------

def expect_error(tmp_path, capsys, dataset, data_dir, *needles, extra=()):
    code, _ = run(tmp_path, dataset, data_dir, "vxm1", *extra)
    error = capsys.readouterr().err
    assert code == 2, error
    for needle in needles:
        assert str(needle) in error, error
    assert not (tmp_path / "cache" / "weights").exists()  # stopped before training


def test_missing_folder(tmp_path, capsys):
    expect_error(tmp_path, capsys, "oasis2d", tmp_path / "nowhere", tmp_path / "nowhere", "no such folder")


def test_missing_subject_list_and_empty_subject_list(tmp_path, capsys):
    root = neurite_oasis(tmp_path / "n", ndim=2, n=4)
    (root / "subjects.txt").write_text("\n")
    expect_error(tmp_path, capsys, "oasis2d", root, root / "subjects.txt", "lists no subjects")
    (root / "subjects.txt").unlink()
    expect_error(tmp_path, capsys, "oasis2d", root, root / "subjects.txt", "does not exist")


def test_subject_without_segmentation(tmp_path, capsys):
    root = neurite_oasis(tmp_path / "n", ndim=2, n=4)
    missing = root / "OASIS_OAS1_0002_MR1" / "slice_seg24.nii.gz"
    missing.unlink()
    expect_error(tmp_path, capsys, "oasis2d", root, missing, "segmentation")


def test_image_and_segmentation_shapes_differ(tmp_path, capsys):
    root = neurite_oasis(tmp_path / "n", ndim=3, n=4)
    seg = root / "OASIS_OAS1_0003_MR1" / "aligned_seg35.nii.gz"
    save(np.zeros((32, 32, 30), np.int16), seg)
    expect_error(tmp_path, capsys, "oasis3d", root, seg, "(32, 32, 30)", "expected equal shapes")


def test_nan_or_infinite_intensities(tmp_path, capsys):
    root = neurite_oasis(tmp_path / "n", ndim=3, n=4)
    image = root / "OASIS_OAS1_0004_MR1" / "aligned_norm.nii.gz"
    data = np.asarray(nib.load(image).dataobj).copy()
    data[3, 4, 5], data[6, 7, 8] = np.nan, np.inf
    save(data, image)
    expect_error(tmp_path, capsys, "oasis3d", root, image, "2 NaN or infinite voxels")


def test_non_integer_labels(tmp_path, capsys):
    root = learn2reg_oasis(tmp_path / "l2r", n=6)
    label = root / "labelsTr" / "OASIS_0002_0000.nii.gz"
    save(np.full((32, 32, 32), 1.5, np.float32), label)
    expect_error(tmp_path, capsys, "l2r-oasis", root, label, "non-integer values")


def test_truncated_file(tmp_path, capsys):
    root = neurite_oasis(tmp_path / "n", ndim=2, n=4)
    image = root / "OASIS_OAS1_0002_MR1" / "slice_norm.nii.gz"
    image.write_bytes(gzip.compress(gzip.decompress(image.read_bytes())[:400]))
    expect_error(tmp_path, capsys, "oasis2d", root, image)


def test_bad_learn2reg_description(tmp_path, capsys):
    root = learn2reg_oasis(tmp_path / "l2r", n=6)
    description = json.loads((root / "OASIS_dataset.json").read_text())
    description["registration_val"][0]["moving"] = "./imagesTr/OASIS_0999_0000.nii.gz"
    (root / "OASIS_dataset.json").write_text(json.dumps(description))
    expect_error(tmp_path, capsys, "l2r-oasis", root, "OASIS_0999", "not among its 'training' subjects")


def test_wrong_dimensionality(tmp_path):
    root = neurite_oasis(tmp_path / "n", ndim=2, n=4)
    save(np.zeros((8, 8, 8), np.float32), root / "OASIS_OAS1_0002_MR1" / "slice_norm.nii.gz")
    with pytest.raises(DataError, match=r"slice_norm.nii.gz has shape \(8, 8, 8\); expected a 2D image"):
        Oasis2d(data_dir=str(root)).validate()


def test_pairwise_from_a_pair_list(tmp_path):
    root = neurite_oasis(tmp_path / "n", ndim=3, n=8)
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("fixed,moving\nOASIS_OAS1_0007_MR1,OASIS_OAS1_0008_MR1\nOASIS_OAS1_0008_MR1,OASIS_OAS1_0006_MR1\n")
    dataset = Oasis3d(data_dir=str(root), pairs=str(pairs))
    assert dataset.atlas_id is None
    assert [p.id for p in dataset.test_pairs()] == ["OASIS_OAS1_0008_MR1->OASIS_OAS1_0007_MR1",
                                                     "OASIS_OAS1_0006_MR1->OASIS_OAS1_0008_MR1"]
    assert set(dataset.train_ids) == {f"OASIS_OAS1_{i:04d}_MR1" for i in range(1, 6)}  # never a test subject
    pairs.write_text("OASIS_OAS1_0007_MR1,nobody\n")
    with pytest.raises(DataError, match=r"pairs.csv, line 1: expected 'FIXED,MOVING' subject ids"):
        Oasis3d(data_dir=str(root), pairs=str(pairs))
