"""Training you can size and that says when it has finished: profile settings from the
command line, the validation split, the convergence rule, early stopping with the best
weights kept, and the † mark on learned rows that stopped on budget."""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from regbench_datasets.synthetic import Synthetic
from regbench_methods.vxm import Vxm1

from regbench.cli import main
from regbench.cli.running import training_profile
from regbench.execution.plan import plan_job, result_key
from regbench.learning import trainer
from regbench.learning.batches import TrainingBatches, run_steps
from regbench.learning.validation import Convergence, ValidationSet, Validator, split_validation
from regbench.plugin.registry import Registry
from regbench.plugin.training import PROFILES, Profile

TINY = ["--dataset", "synthetic", "--dataset-option", "shape=32,32", "--dataset-option", "n_subjects=16",
        "--max-pairs", "2", "--no-progress"]


def test_settings_override_a_profile_typed_like_its_own():
    quick = PROFILES["quick"]
    changed = quick.with_settings({"steps": "3000", "lr": "1e-4", "until": "converged", "patience": "3"})
    assert (changed.steps, changed.lr, changed.until, changed.patience) == (3000, 1e-4, "converged", 3)
    assert changed.batch_size == quick.batch_size and changed.name == "quick"
    by_epochs = quick.with_settings({"epochs": "2"})
    assert (by_epochs.epochs, by_epochs.steps) == (2, None)
    assert by_epochs.total_steps(n_train=20) == 2 * 3


@pytest.mark.parametrize(("settings", "message"), [
    ({"stesp": "5"}, "unknown setting 'stesp'; valid settings: batch_size, lr, epochs, steps"),
    ({"steps": "many"}, "steps expects an integer, got 'many'"),
    ({"lr": "fast"}, "lr expects a number, got 'fast'"),
    ({"steps": "0"}, "steps must be at least 1, got 0"),
    ({"lr": "-1"}, "lr must be positive"),
    ({"until": "forever"}, "until must be one of budget, converged, got 'forever'"),
    ({"validation_fraction": "1"}, r"validation_fraction must be in \[0, 1\)"),
])
def test_bad_settings_are_named(settings, message):
    with pytest.raises(ValueError, match=message):
        PROFILES["quick"].with_settings(settings)


def test_the_default_profile_converges_on_a_gpu_and_is_quick_on_a_cpu(monkeypatch):
    args = argparse.Namespace(profile=None, train=["steps=30,lr=2e-3", "patience=2"])
    from regbench.measuring import devices

    monkeypatch.setattr(devices, "pick_device", lambda: torch.device("cpu"))
    on_cpu = training_profile(args)
    assert (on_cpu.name, on_cpu.until, on_cpu.steps, on_cpu.lr, on_cpu.patience) == ("quick", "budget", 30, 2e-3, 2)
    monkeypatch.setattr(devices, "pick_device", lambda: torch.device("cuda"))
    assert training_profile(argparse.Namespace(profile=None, train=[])).until == "converged"


def test_validation_subjects_are_seeded_held_out_and_never_test_subjects():
    dataset = Synthetic(shape=(32, 32), n_subjects=40)
    registry = Registry("method")
    registry(Vxm1)
    job = plan_job(registry["vxm1"], {}, dataset=dataset, seed=3, profile=PROFILES["quick"])
    context = job.training_context()
    assert len(context.validation_ids) == max(2, round(0.1 * len(dataset.train_ids)))
    assert set(context.validation_ids).isdisjoint(context.train_ids)
    assert set(context.validation_ids).isdisjoint(dataset.test_ids) and dataset.atlas_id not in context.validation_ids
    assert sorted(context.train_ids + context.validation_ids) == sorted(dataset.train_ids)
    assert context.validation_ids == job.training_context().validation_ids
    assert split_validation(dataset.train_ids, 0.1, seed=4)[1] != context.validation_ids
    assert split_validation(dataset.train_ids, 0.0, seed=3) == (dataset.train_ids, ())
    with pytest.raises(ValueError, match="3 training subjects are too few to hold out 2 for validation"):
        split_validation(("a", "b", "c"), 0.1, seed=0)


def test_every_training_setting_changes_the_result_and_weight_keys(tmp_path):
    dataset = Synthetic(shape=(32, 32), n_subjects=20)
    registry = Registry("method")
    registry(Vxm1)
    base = PROFILES["quick"]
    changes = {"batch_size": 4, "lr": 5e-4, "steps": 251, "until": "converged", "validation_fraction": 0.2,
               "validate_every": 10, "patience": 2, "tolerance": 0.01, "batch_size_3d": 2}
    assert set(changes) | {"name", "epochs"} == {field.name for field in dataclasses.fields(base)}

    def keys(profile):
        job = plan_job(registry["vxm1"], {}, dataset=dataset, seed=0, profile=profile, cache_dir=tmp_path)
        return result_key(job), Vxm1().cache_key(job.training_context())

    result, weights = keys(base)
    for field, value in changes.items():
        other_result, other_weights = keys(dataclasses.replace(base, **{field: value}))
        assert other_result != result and other_weights != weights, field


def test_convergence_is_no_improvement_beyond_the_tolerance_over_the_last_evaluations():
    convergence = Convergence(patience=2, tolerance=0.01)
    assert [convergence.update(score) for score in (0.50, 0.60, 0.605)] == [True, True, True]
    assert not convergence.converged  # 0.605 is within the tolerance, but only one evaluation since 0.60
    convergence.update(0.59)
    assert convergence.converged  # best of the last two (0.605) is not above 0.60 + 0.01
    convergence.update(0.70)
    assert not convergence.converged


class _FakeValidation:
    """Scores from a list, one per evaluation (higher is better)."""

    def __init__(self, scores):
        self.scores = iter(scores)

    def score(self, predict):
        return {"val_mse": 0.0, "val_dice": next(self.scores)}

    criterion = staticmethod(ValidationSet.criterion)


def _validator(scores, stop_when_converged, kept):
    return Validator(_FakeValidation(scores), predict=lambda m, f: None, keep_best=lambda: kept.append("keep"),
                     restore_best=lambda: kept.append("restore"), every=10,
                     convergence=Convergence(patience=2, tolerance=0.0), stop_when_converged=stop_when_converged)


def _batches():
    return TrainingBatches(Synthetic(shape=(16, 16), n_subjects=10), ("synthetic-0001", "synthetic-0002"), 2, 0)


def test_until_converged_stops_early_and_ends_with_the_best_weights():
    kept = []
    run = run_steps(lambda moving, fixed: 1.0, _batches(), 100,
                    validator=_validator([0.5, 0.7, 0.6, 0.65, 0.9], stop_when_converged=True, kept=kept))
    assert len(run.losses) == 40 and run.stop == "converged" and run.best_step == 20
    assert [row["step"] for row in run.validation] == [10, 20, 30, 40]
    assert kept == ["keep", "keep", "restore"]


def test_a_budget_that_ends_while_validation_improves_says_so():
    kept = []
    run = run_steps(lambda moving, fixed: 1.0, _batches(), 25,
                    validator=_validator([0.5, 0.6, 0.7], stop_when_converged=False, kept=kept))
    assert len(run.losses) == 25 and run.stop == "budget" and run.best_step == 25
    assert [row["step"] for row in run.validation] == [10, 20, 25]  # and once after the last step


def test_the_trainer_stops_on_convergence_and_keeps_its_best_weights():
    dataset = Synthetic(shape=(32, 32), n_subjects=16)
    train_ids, validation_ids = split_validation(dataset.train_ids, 0.2, seed=0)
    network = Vxm1().build_network(2)
    profile = Profile("t", batch_size=2, lr=1e-3, steps=200, until="converged", validate_every=2,
                               patience=1, tolerance=1.0)  # no gain can exceed 1: converged at the 2nd evaluation
    report = trainer.train(network, dataset, train_ids, validation_ids=validation_ids, profile=profile,
                           reg_weight=0.01, device=torch.device("cpu"))
    assert (report.steps, report.stop, len(report.validation)) == (4, "converged", 2)
    best = report.best_validation
    assert best is not None and best["step"] == report.best_step
    validation = ValidationSet(dataset, validation_ids, batch_size=2)
    with torch.inference_mode():
        rescored = validation.score(lambda m, f: network(torch.from_numpy(m)[:, None], torch.from_numpy(f)[:, None])
                                    .numpy())
    assert rescored["val_dice"] == pytest.approx(best["val_dice"], abs=1e-6)  # the kept weights are the best ones


def test_budget_rows_are_marked_in_console_table_and_report(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", "--methods", "vxm1,identity", *TINY, "--train", "steps=4,validate_every=2",
                 "--cache-dir", str(tmp_path / "cache"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "vxm1†" in printed and "† stopped on the training budget before converging (vxm1: 4 steps" in printed
    assert "identity†" not in printed
    table = (out / "table.md").read_text()
    assert "vxm1†" in table and "† stopped on the training budget" in table
    assert main(["report", str(out)]) == 0
    report = (out / "report.md").read_text()
    assert "| vxm1†" in report and "† stopped on the training budget" in report
    results = pd.read_csv(out / "results.csv")
    vxm1 = results[results["method"] == "vxm1"].iloc[0]
    assert (vxm1["train_stop"], vxm1["train_steps"]) == ("budget", 4) and 0 < vxm1["train_val_dice"] <= 1
    curve = pd.read_csv(out / "training.csv")
    assert curve.dropna(subset=["val_dice"])["step"].tolist() == [2, 4]


def test_converged_rows_are_not_marked(tmp_path, capsys):
    out = tmp_path / "out"
    settings = "steps=50,validate_every=2,until=converged,patience=1,tolerance=1"  # converged at the 2nd evaluation
    assert main(["run", "--methods", "vxm1", *TINY, "--train", settings, "--cache-dir", str(tmp_path / "cache"),
                 "--out", str(out)]) == 0
    assert "†" not in capsys.readouterr().out
    results = pd.read_csv(out / "results.csv")
    assert (results["train_stop"] == "converged").all() and (results["train_steps"] == 4).all()
    assert np.isfinite(results["train_val_dice"]).all()


def test_bad_training_settings_are_usage_errors(tmp_path, capsys):
    assert main(["run", "--methods", "vxm1", *TINY, "--train", "steps=0", "--out", str(tmp_path)]) == 2
    assert "regbench: error: training profile 'quick': steps must be at least 1, got 0" in capsys.readouterr().err
    assert main(["train", "--methods", "vxm1", *TINY[:-3], "--train", "speed=9"]) == 2
    assert "--train: unknown setting 'speed'" in capsys.readouterr().err
