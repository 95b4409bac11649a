"""The shared trainer and the weight cache, on tiny synthetic data with a tiny profile."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from regbench_datasets.synthetic import Synthetic
from regbench_methods.vxm import Vxm1

from regbench.cli import main
from regbench.plugin.method import TrainingContext
from regbench.plugin.training import PROFILES, Profile

TINY_PROFILE = Profile("tiny", batch_size=2, lr=1e-3, steps=12)


@pytest.fixture(autouse=True)
def tiny_profile(monkeypatch):
    monkeypatch.setitem(PROFILES, "tiny", TINY_PROFILE)


@pytest.fixture
def dataset():
    return Synthetic(shape=(32, 32), n_subjects=10)


def context(dataset, tmp_path):
    return TrainingContext(dataset=dataset, train_ids=dataset.train_ids, profile=TINY_PROFILE, cache_dir=tmp_path)


def test_training_lowers_the_loss_and_repeats_for_a_seed(dataset, tmp_path):
    first, again = Vxm1(seed=3), Vxm1(seed=3)
    first.prepare(context(dataset, tmp_path / "a"))
    again.prepare(context(dataset, tmp_path / "b"))
    losses = first.training.losses
    assert len(losses) == TINY_PROFILE.steps and not first.training.cached
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    assert losses == again.training.losses


def test_cached_weights_are_reused_and_give_the_same_fields(dataset, tmp_path):
    atlas, moving = dataset.load(dataset.atlas_id), dataset.load(dataset.test_ids[0])
    trained = Vxm1()
    trained.prepare(context(dataset, tmp_path))
    reloaded = Vxm1()
    reloaded.prepare(context(dataset, tmp_path))
    assert reloaded.training.cached and reloaded.training.losses == trained.training.losses
    np.testing.assert_array_equal(
        trained.register(atlas.image, moving.image).displacement,
        reloaded.register(atlas.image, moving.image).displacement,
    )
    assert len(list((tmp_path / "weights").glob("vxm1-*.pt"))) == 1


def test_the_cache_key_follows_everything_that_changes_the_weights(dataset, tmp_path):
    base = Vxm1().cache_key(context(dataset, tmp_path))
    assert Vxm1().cache_key(context(dataset, tmp_path)) == base
    assert Vxm1(reg_weight=0.1).cache_key(context(dataset, tmp_path)) != base
    assert Vxm1(seed=1).cache_key(context(dataset, tmp_path)) != base
    assert Vxm1().cache_key(context(Synthetic(shape=(32, 32), n_subjects=10, seed=1), tmp_path)) != base
    other_profile = TrainingContext(dataset=dataset, train_ids=dataset.train_ids, profile=PROFILES["quick"])
    assert Vxm1().cache_key(other_profile) != base
    newer_library = dataclasses.replace(context(dataset, tmp_path), library_versions="voxelmorph 0.4")
    assert Vxm1().cache_key(newer_library) != base


def test_weights_are_loaded_without_running_code(dataset, tmp_path, monkeypatch):
    Vxm1().prepare(context(dataset, tmp_path))
    calls = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(k) or real_load(*a, **k))
    Vxm1().prepare(context(dataset, tmp_path))
    assert calls and all(call.get("weights_only") is True for call in calls)


def test_train_then_run_from_the_command_line(tmp_path, capsys):
    common = ["--methods", "vxm1,eca-unet", "--dataset", "synthetic", "--dataset-option", "shape=32,32",
              "--dataset-option", "n_subjects=10", "--profile", "tiny", "--cache-dir", str(tmp_path / "cache"),
              "--no-progress"]
    assert main(["train", *common]) == 0
    printed = capsys.readouterr().out
    assert "vxm1: trained, 12 steps" in printed and "eca-unet: trained, 12 steps" in printed
    assert main(["run", *common, "--out", str(tmp_path / "out")]) == 0
    results = pd.read_csv(tmp_path / "out" / "results.csv")
    assert set(results["status"]) == {"ok"}
    assert results["train_cached"].all()  # `train` cached the weights `run` used
    assert (results["parameters"] > 0).all() and (results["train_seconds"] > 0).all()
    curves = pd.read_csv(tmp_path / "out" / "training.csv")
    assert curves.groupby("method")["step"].max().to_dict() == {"eca-unet": 12, "vxm1": 12}
    printed = capsys.readouterr().out
    assert "train s" in printed and "(cached)" in printed


def test_image_sizes_the_network_cannot_pool_are_a_clear_error(tmp_path):
    odd = Synthetic(shape=(30, 32), n_subjects=10)
    with pytest.raises(ValueError, match=r"'vxm1' needs image sizes that are multiples of 16.*\(30, 32\)"):
        Vxm1().prepare(context(odd, tmp_path))
