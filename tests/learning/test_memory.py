"""Memory a researcher can control, and running out of it as a result, not a crash:
batch size per dimensionality, mixed precision and activation checkpointing reaching the
trainer and the keys; out-of-memory errors injected on the CPU (CUDA's and the host's)
failing only the method or the pair they hit; images kept on the device; and batched
inference giving the fields of one-at-a-time registration."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from regbench_datasets.synthetic import Synthetic
from regbench_methods.vxm import Vxm1

from regbench.cli import main
from regbench.cli.arguments import PAIRS_FAILED
from regbench.execution.plan import plan_job, result_key
from regbench.learning import memory, trainer
from regbench.learning.batches import TrainingBatches
from regbench.measuring import devices
from regbench.plugin.manager import collect, plugin_manager
from regbench.plugin.method import TrainingContext
from regbench.plugin.training import PROFILES, Profile

SMALL = ["--dataset", "synthetic", "--dataset-option", "shape=32,32", "--dataset-option", "n_subjects=20",
         "--profile", "smoke", "--no-progress"]
TINY_TRAINING = Profile("tiny", batch_size=4, lr=1e-3, steps=3, validation_fraction=0)


def _train(dataset, profile=TINY_TRAINING, **options):
    torch.manual_seed(0)
    network = Vxm1().build_network(len(dataset.spacing))
    if options.pop("checkpointing", False):
        memory.use_checkpointing(memory.checkpoint_blocks(network))
    report = trainer.train(network, dataset, dataset.train_ids, profile=profile, reg_weight=0.01,
                           device=torch.device("cpu"), **options)
    return network, report


def test_volumes_train_with_their_own_batch_size():
    assert PROFILES["quick"].batch_for(2) == 8 and PROFILES["quick"].batch_for(3) == 1
    volumes = Synthetic(shape=(16, 16, 16), n_subjects=8)
    _, report = _train(volumes, TINY_TRAINING.with_settings({"batch_size_3d": "2"}))
    assert report.batch_size == 2
    assert TINY_TRAINING.total_steps(10, ndim=3) == 3  # steps are steps; epochs count batches of the dimensionality
    assert Profile("e", batch_size=8, lr=1e-3, epochs=2).total_steps(10, ndim=3) == 20


def test_precision_and_checkpointing_are_parameters_of_their_own_keys():
    entry = collect(plugin_manager([])).methods["vxm1"]
    dataset = Synthetic(shape=(32, 32), n_subjects=12)
    context = TrainingContext(dataset=dataset, train_ids=dataset.train_ids)
    jobs = [plan_job(entry, given, dataset=dataset, seed=0, profile=PROFILES["smoke"])
            for given in ({}, {"precision": "bf16"}, {"checkpointing": "true"})]
    assert len({result_key(job) for job in jobs}) == 3
    assert len({job.instantiate().weights_stem(context) for job in jobs}) == 3
    with pytest.raises(ValueError, match="precision must be one of fp32, bf16, fp16, auto, got 'half'"):
        entry.cls.resolve_params({"precision": "half"})
    with pytest.raises(ValueError, match="fp16 needs a CUDA device"):
        memory.check_precision("fp16", torch.device("cpu"))


@pytest.mark.parametrize(("amx", "concrete"), [(False, "fp32"), (True, "bf16")])
def test_auto_precision_is_made_concrete_for_this_machine_before_any_key(amx, concrete, monkeypatch):
    """A run with ``precision=auto`` on a CPU with AMX tiles and one without must never
    share results or weights: auto is resolved first, and is what the row records."""
    monkeypatch.setattr(memory, "has_amx", lambda: amx)
    monkeypatch.setattr(devices, "pick_device", lambda: torch.device("cpu"))  # as on a machine without CUDA
    entry = collect(plugin_manager([])).methods["vxm1"]
    dataset = Synthetic(shape=(32, 32), n_subjects=12)
    context = TrainingContext(dataset=dataset, train_ids=dataset.train_ids)
    auto, explicit, other = (plan_job(entry, given, dataset=dataset, seed=0, profile=PROFILES["smoke"])
                             for given in ({"precision": "auto"}, {"precision": concrete},
                                           {"precision": "bf16" if concrete == "fp32" else "fp32"}))
    assert auto.params["precision"] == concrete
    assert result_key(auto) == result_key(explicit) != result_key(other)
    assert auto.instantiate().weights_stem(context) == explicit.instantiate().weights_stem(context)
    assert memory.resolve_precision("auto", torch.device("cuda")) == "fp32"  # GPUs: nothing measured says otherwise
    assert memory.resolve_precision("bf16", torch.device("cpu")) == "bf16"


def test_checkpointing_trains_the_same_network_and_mixed_precision_a_close_one():
    dataset = Synthetic(shape=(32, 32), n_subjects=10)
    plain, plain_report = _train(dataset)
    checkpointed, checkpointed_report = _train(dataset, checkpointing=True)
    np.testing.assert_allclose(checkpointed_report.losses, plain_report.losses, rtol=1e-5)
    for key, value in plain.state_dict().items():  # the same names: weights load either way
        torch.testing.assert_close(checkpointed.state_dict()[key], value, rtol=1e-4, atol=1e-6)
    _, bf16 = _train(dataset, precision="bf16")
    assert np.isfinite(bf16.losses).all() and bf16.losses != plain_report.losses
    np.testing.assert_allclose(bf16.losses, plain_report.losses, rtol=0.05)


def test_the_first_loss_is_the_untrained_networks_whatever_the_preflight_did():
    """The preflight step runs a forward and backward pass before training: the weights
    the first step starts from must still be the initial ones."""
    dataset = Synthetic(shape=(32, 32), n_subjects=10)
    torch.manual_seed(0)
    initial = Vxm1().build_network(2)
    moving, _ = TrainingBatches(dataset, dataset.train_ids, TINY_TRAINING.batch_size, seed=0).next()
    atlas = torch.from_numpy(dataset.load(dataset.atlas_id).image)[None, None].expand(len(moving), 1, 32, 32)
    moving = torch.from_numpy(moving)[:, None]
    with torch.no_grad():
        field = initial(moving, atlas)
        expected = (trainer.similarity_loss("mse")(atlas, trainer.warp_tensor(moving, field))
                    + 0.01 * trainer.diffusion_loss()(field))
    _, report = _train(dataset)
    assert report.losses[0] == pytest.approx(float(expected), rel=1e-6)


def test_images_kept_on_the_device_train_to_the_same_losses():
    dataset = Synthetic(shape=(32, 32), n_subjects=10)
    _, copied = _train(dataset, resident=False)
    _, resident = _train(dataset, resident=True)
    assert resident.losses == copied.losses


def test_out_of_memory_in_training_fails_that_method_with_what_to_change(tmp_path):
    out = tmp_path / "out"
    assert main(["-p", "faulty_plugin", "run", "--methods", "identity,oom-training", *SMALL, "--out", str(out),
                 "--cache-dir", str(tmp_path / "cache")]) == PAIRS_FAILED
    results = pd.read_csv(out / "results.csv")
    assert (results.loc[results["method"] == "identity", "status"] == "ok").all()
    errors = results.loc[results["method"] == "oom-training", "error"]
    assert len(errors) == 4 and errors.nunique() == 1
    error = errors.iloc[0]
    assert error.startswith("OutOfMemory: out of memory on cpu in train oom-training's preflight step "
                            "(batch 8 of 32×32): asked for 2.00 GiB, "), error
    assert "MiB free of" in error
    assert ("reduce it with --train batch_size=4 (now 8); --param oom-training.precision=bf16; "
            "--param oom-training.checkpointing=true") in error


def test_out_of_memory_on_one_pair_fails_that_pair_only(tmp_path, markers):
    out = tmp_path / "out"
    assert main(["-p", "faulty_plugin", "run", "--methods", "oom-one-pair", *SMALL, "--out", str(out),
                 "--train", "validation_fraction=0", "--cache-dir", str(tmp_path / "cache")]) == PAIRS_FAILED
    results = pd.read_csv(out / "results.csv")
    assert list(results["status"]) == ["failed", "ok", "ok", "ok"]
    assert results["error"].iloc[0].startswith("OutOfMemory: out of memory on cpu while oom-one-pair registered "
                                               "1 image(s) of 32×32: ")
    assert "--param oom-one-pair.precision=bf16" in results["error"].iloc[0]


def test_batched_inference_gives_the_fields_of_one_at_a_time(tmp_path):
    dataset = Synthetic(shape=(32, 32), n_subjects=12)
    method = Vxm1(seed=0)
    method.prepare(TrainingContext(dataset=dataset, train_ids=dataset.train_ids, profile=TINY_TRAINING,
                                   cache_dir=tmp_path))
    fixed = dataset.load(dataset.atlas_id).image
    movings = [dataset.load(pair.moving_id).image for pair in dataset.test_pairs()]
    batched = method.register_batch(fixed, movings)
    for moving, result in zip(movings, batched, strict=True):
        np.testing.assert_allclose(result.displacement, method.register(fixed, moving).displacement,
                                   rtol=1e-5, atol=1e-7)


def test_a_run_registers_pairs_in_batches_where_the_method_can(tmp_path):
    common = ["run", "--methods", "identity,vxm1", *SMALL, "--train", "steps=3", "--cache-dir", str(tmp_path / "c"),
              "--param", "vxm1.precision=auto"]
    assert main([*common, "--out", str(tmp_path / "one")]) == 0
    assert main([*common, "--out", str(tmp_path / "batched"), "--batch-pairs", "3"]) == 0
    one, batched = (pd.read_csv(tmp_path / name / "results.csv") for name in ("one", "batched"))
    ran = memory.resolve_precision("auto", devices.pick_device())  # the rows and run.json say which precision ran
    assert {json.loads(params)["precision"] for params in one.loc[one["method"] == "vxm1", "method_params"]} == {ran}
    assert json.loads((tmp_path / "one" / "run.json").read_text())["params"]["vxm1"]["precision"] == ran
    assert list(batched.loc[batched["method"] == "vxm1", "timing_batch"]) == [3, 3, 3, 1]  # 4 pairs: 3 + 1
    assert (batched.loc[batched["method"] == "identity", "timing_batch"] == 1).all()  # no register_batch
    np.testing.assert_allclose(batched["dice_mean"], one["dice_mean"], atol=1e-9)
    assert batched["seconds"].notna().all()
