"""Stored results and cached weights are keyed by everything that decides them: the
content of every data file they read, all the code they run, and their settings."""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from layouts import neurite_oasis
from regbench_datasets.oasis import Oasis2d
from regbench_datasets.synthetic import Synthetic
from regbench_methods.identity import Identity
from regbench_methods.vxm import Vxm1

import regbench.learning
import regbench.measuring
from regbench.cli import main
from regbench.common import fingerprint
from regbench.common.fingerprint import FileDigests
from regbench.execution.inputs import DataFingerprint
from regbench.execution.plan import plan_job, result_key
from regbench.plugin.manager import collect, plugin_manager
from regbench.plugin.registry import Registry
from regbench.plugin.training import PROFILES


def _run(root: Path, out: Path, cache: Path) -> pd.DataFrame:
    assert main(["run", "--methods", "identity", "--dataset", "oasis2d", "--data-dir", str(root), "--no-progress",
                 "--no-isolation", "--out", str(out), "--cache-dir", str(cache)]) == 0
    return pd.read_csv(out / "results.csv")


def _reused(out: Path) -> int:
    return json.loads((out / "run.json").read_text())["reused_results"]


def test_a_subject_replaced_in_place_recomputes_exactly_its_pair(tmp_path):
    root = neurite_oasis(tmp_path / "data", ndim=2, n=12)
    out, cache = tmp_path / "out", tmp_path / "cache"
    before = _run(root, out, cache).set_index("pair")
    moving = before.index[0].split("->")[0]
    seg = root / moving / "slice_seg24.nii.gz"
    image = nib.load(seg)
    labels = np.asarray(image.dataobj)
    nib.save(nib.Nifti1Image(np.roll(labels, 3, axis=0), image.affine), seg)  # same name, other labels

    after = _run(root, out, cache).set_index("pair")
    assert _reused(out) == len(before) - 1  # every other pair's files are unchanged
    fresh = _run(root, tmp_path / "fresh", tmp_path / "fresh-cache").set_index("pair")
    assert after.loc[before.index[0], "dice_mean"] == fresh.loc[before.index[0], "dice_mean"]
    assert after.loc[before.index[0], "dice_mean"] != before.loc[before.index[0], "dice_mean"]
    pd.testing.assert_series_equal(after["dice_mean"].iloc[1:], before["dice_mean"].iloc[1:])


def test_a_file_touched_or_copied_back_unchanged_keeps_its_results(tmp_path):
    root = neurite_oasis(tmp_path / "data", ndim=2, n=6)
    out, cache = tmp_path / "out", tmp_path / "cache"
    results = _run(root, out, cache)
    image = root / results["pair"][0].split("->")[0] / "slice_norm.nii.gz"
    content = image.read_bytes()
    image.unlink()
    image.write_bytes(content)  # a new inode and times, the same content
    _run(root, out, cache)
    assert _reused(out) == len(results)


def test_file_digests_are_read_once_while_a_file_is_unchanged(tmp_path, monkeypatch):
    data = tmp_path / "image.nii.gz"
    data.write_bytes(b"first")
    digests = FileDigests(tmp_path / "memo")
    first = digests(data)
    reads = []
    real_open = Path.open
    monkeypatch.setattr(Path, "open", lambda self, *a, **k: reads.append(self) or real_open(self, *a, **k))
    assert digests(data) == first and data not in reads  # from the memo
    data.write_bytes(b"other")  # same size, new content
    assert digests(data) != first and data in reads
    (tmp_path / "memo").joinpath(os.listdir(tmp_path / "memo")[0]).write_text("{damaged")
    assert digests(data) == FileDigests()(data)  # a damaged memo costs a read, never a wrong digest


def test_training_files_key_the_weights_and_the_results_of_a_learning_method(tmp_path):
    root = neurite_oasis(tmp_path / "data", ndim=2, n=8)
    dataset = Oasis2d(data_dir=str(root))
    registry: Registry = Registry("method")
    registry(Vxm1)
    settings = {"dataset": dataset, "seed": 0, "profile": PROFILES["smoke"]}

    def keys() -> tuple[str, str]:
        job = plan_job(registry["vxm1"], {}, **settings)
        context = job.training_context()
        return result_key(job), job.instantiate().cache_key(context)

    before = keys()
    trained_on = root / dataset.train_ids[0] / "slice_norm.nii.gz"
    image = nib.load(trained_on)
    nib.save(nib.Nifti1Image(np.asarray(image.dataobj) * 0.5, image.affine), trained_on)
    after = keys()
    assert after[0] != before[0] and after[1] != before[1]


def _every_metric() -> tuple:
    """The built-in metrics, as a run asks for them by default (``--metrics all``)."""
    return tuple(entry.cls() for entry in collect(plugin_manager()).metrics.entries())


def _modules(package) -> list[str]:
    return [info.name for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}.")]


@pytest.mark.parametrize("module", _modules(regbench.measuring) + _modules(regbench.learning))
def test_editing_any_measuring_or_learning_module_changes_the_keys(module, monkeypatch):
    """No hand-kept list: a change anywhere in measuring or learning recomputes what it
    may decide (the results of a learning method, and its cached weights)."""
    importlib.import_module(module)
    registry: Registry = Registry("method")
    registry(Vxm1)
    job = plan_job(registry["vxm1"], {}, dataset=Synthetic(shape=(32, 32), n_subjects=6), seed=0,
                   profile=PROFILES["smoke"], metrics=_every_metric())
    before = result_key(job), job.instantiate().cache_key(job.training_context())
    edited = Path(importlib.import_module(module).__file__)
    real = fingerprint._source
    monkeypatch.setattr(fingerprint, "_source", lambda path: real(path) + (b"\n# edited" if path == edited else b""))
    after = result_key(job), job.instantiate().cache_key(job.training_context())
    assert after[0] != before[0]
    if module.startswith("regbench.learning"):
        assert after[1] != before[1]


@pytest.mark.parametrize("module", _modules(regbench.measuring))
def test_editing_any_measuring_module_recomputes_a_classical_method(module, monkeypatch):
    registry: Registry = Registry("method")
    registry(Identity)
    job = plan_job(registry["identity"], {}, dataset=Synthetic(shape=(32, 32), n_subjects=6), seed=0,
                   profile=PROFILES["smoke"], metrics=_every_metric())
    before = result_key(job)
    edited = Path(importlib.import_module(module).__file__)
    real = fingerprint._source
    monkeypatch.setattr(fingerprint, "_source", lambda path: real(path) + (b"\n# edited" if path == edited else b""))
    assert result_key(job) != before


def test_editing_a_dataset_s_code_recomputes_its_results_and_retrains(monkeypatch):
    """A generated dataset's subjects (and any dataset's landmarks and true fields) come
    from its code: a changed generator must not reuse results or weights made before."""
    registry: Registry = Registry("method")
    registry(Vxm1)
    job = plan_job(registry["vxm1"], {}, dataset=Synthetic(shape=(32, 32), n_subjects=6), seed=0,
                   profile=PROFILES["smoke"], metrics=_every_metric())
    before = result_key(job), job.instantiate().cache_key(job.training_context())
    edited = Path(importlib.import_module(Synthetic.__module__).__file__)
    real = fingerprint._source
    monkeypatch.setattr(fingerprint, "_source", lambda path: real(path) + (b"\n# edited" if path == edited else b""))
    after = result_key(job), job.instantiate().cache_key(job.training_context())
    assert after[0] != before[0] and after[1] != before[1]


def test_a_changed_file_changes_its_subject_s_digest_and_no_other(tmp_path):
    root = neurite_oasis(tmp_path / "data", ndim=2, n=6)
    dataset = Oasis2d(data_dir=str(root))
    ids = list(dataset.files)
    before = DataFingerprint.of(dataset, ids)
    seg = root / ids[1] / "slice_seg24.nii.gz"
    seg.write_bytes(seg.read_bytes())  # rewritten, same content
    assert DataFingerprint.of(dataset, ids) == before
    image = nib.load(seg)
    nib.save(nib.Nifti1Image(np.asarray(image.dataobj) + 1, image.affine), seg)
    after = DataFingerprint.of(dataset, ids)
    assert [sid for sid in ids if after.subject(sid) != before.subject(sid)] == [ids[1]]
    assert after.shared == before.shared


def test_a_flat_plugin_s_helper_module_beside_it_keys_its_results(tmp_path, monkeypatch):
    """A plugin that is one module, importing a helper module of its own folder: the
    helper is the method's code too (editing it reused stale results)."""
    (tmp_path / "outside_helper.py").write_text("SHIFT = 0.0\n")
    (tmp_path / "outside_flat.py").write_text("from outside_helper import SHIFT\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = fingerprint.code_version(["outside_flat"])
    (tmp_path / "outside_helper.py").write_text("SHIFT = 3.0\n")
    assert fingerprint.code_version(["outside_flat"]) != before
    assert "numpy" not in fingerprint.code_modules(["regbench_methods.vxm"])  # installed packages: keyed by version
