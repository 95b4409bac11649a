"""Trained here, tested there: a learning method trained on one dataset and evaluated on
another (``--train-dataset``), the train × test matrix one command runs, its report,
and training on images synthesised from label maps (``train_images=synth``).

The second dataset is ``other-anatomy`` (``seeded_plugin.py``): synthetic's generator
with another anatomy, so that networks trained on each differ."""

from __future__ import annotations

import argparse
import json
import re
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from regbench_datasets.synthetic import Synthetic
from seeded_plugin import OtherAnatomy

from regbench.cli import config, main
from regbench.cli.arguments import UsageError, parser
from regbench.cli.datasets import Requested, requested
from regbench.data.synthesis import SynthesisedImages
from regbench.execution.plan import plan_job, result_key
from regbench.outputs.compare import NOT_COMPARABLE
from regbench.outputs.files import ResultsFolder
from regbench.outputs.report.generalisation import IN_DISTRIBUTION, matrix, matrix_text
from regbench.outputs.report.glance import significant
from regbench.outputs.seeds import SeedMeans
from regbench.plugin.manager import collect, plugin_manager
from regbench.plugin.training import PROFILES

SMALL = ["--dataset-option", "synthetic.shape=16,16", "--dataset-option", "other-anatomy.shape=16,16"]


def _vxm1_job(evaluated_on, trained_on=None, **settings):
    entry = collect(plugin_manager([])).methods["vxm1"]
    return plan_job(entry, {}, dataset=evaluated_on, seed=0, profile=PROFILES["smoke"], train_dataset=trained_on,
                    **settings)


def test_a_job_trained_elsewhere_learns_from_that_dataset_and_shares_its_weights():
    a, b = Synthetic(shape=(16, 16)), OtherAnatomy(shape=(16, 16))
    elsewhere, at_home, on_b = _vxm1_job(b, trained_on=a), _vxm1_job(a), _vxm1_job(b)
    context = elsewhere.training_context()
    assert context.dataset is a and context.train_ids == at_home.training_context().train_ids
    method = elsewhere.instantiate()
    # the weights of vxm1 trained on A, whichever dataset it is evaluated on; not those trained on B
    assert method.weights_stem(context) == at_home.instantiate().weights_stem(at_home.training_context())
    assert method.weights_stem(context) != on_b.instantiate().weights_stem(on_b.training_context())
    assert len({result_key(elsewhere), result_key(at_home), result_key(on_b)}) == 3
    assert elsewhere.training_columns()["train_dataset"] == "synthetic"
    assert json.loads(elsewhere.training_columns()["train_dataset_options"])["seed"] == 0
    # trained on another A (other options): another dataset, other weights and results
    other_a = _vxm1_job(b, trained_on=Synthetic(shape=(16, 16), seed=3))
    assert other_a.instantiate().weights_stem(other_a.training_context()) != method.weights_stem(context)
    assert result_key(other_a) != result_key(elsewhere)


def _args(*argv: str) -> argparse.Namespace:
    return parser().parse_args(["run", *argv])


def test_dataset_options_reach_every_dataset_or_the_one_they_name():
    tests, trains = requested(_args("--dataset", "mni2d,synthetic", "--train-dataset", "synthetic,other-anatomy",
                                    "--dataset-option", "seed=1", "--dataset-option", "synthetic.shape=16,16",
                                    "--train-dataset-option", "n_subjects=30",
                                    "--train-dataset-option", "other-anatomy.seed=2"))
    assert tests == [Requested("mni2d", ("seed=1",)), Requested("synthetic", ("seed=1", "shape=16,16"))]
    assert trains == [Requested("synthetic", ("seed=1", "shape=16,16", "n_subjects=30")),
                      Requested("other-anatomy", ("n_subjects=30", "seed=2"))]
    # a dataset named on both sides is one dataset: --dataset-option reaches both, unless
    # --train-dataset-option says otherwise; a later item wins (the command line over a file)
    tests, trains = requested(_args("--dataset", "synthetic", "--train-dataset", "synthetic,other-anatomy",
                                    "--dataset-option", "synthetic.shape=160,192", "--dataset-option", "shape=16,16",
                                    "--train-dataset-option", "synthetic.seed=4"))
    assert tests == [Requested("synthetic", ("shape=160,192", "shape=16,16"))]
    assert trains == [Requested("synthetic", ("shape=160,192", "shape=16,16", "seed=4")), Requested("other-anatomy")]
    with pytest.raises(UsageError, match="names dataset 'oasis2d', which this run does not use"):
        requested(_args("--dataset-option", "oasis2d.shape=16,16"))
    with pytest.raises(UsageError, match="--train-dataset-option sets options of --train-dataset"):
        requested(_args("--train-dataset-option", "shape=16,16"))
    with pytest.raises(UsageError, match="--dataset names synthetic more than once"):
        requested(_args("--dataset", "synthetic,synthetic"))


def test_a_benchmark_file_lists_the_datasets_of_a_matrix(tmp_path):
    file = tmp_path / "matrix.toml"
    file.write_text(textwrap.dedent("""
        dataset = ["mni2d", "synthetic"]
        train_dataset = ["mni2d", "synthetic"]
        seeds = [0]
        [dataset_options.synthetic]
        shape = [160, 192]
        n_subjects = 100
    """))
    defaults = parser().parse_args(["run"])
    assert config.flags(file, defaults) == [
        "--dataset", "mni2d,synthetic", "--train-dataset", "mni2d,synthetic", "--seed", "0",
        "--dataset-option", "synthetic.shape=160,192", "--dataset-option", "synthetic.n_subjects=100"]
    file.write_text('[train_dataset]\nname = "synthetic"\nshape = [16, 16]\n')
    assert config.flags(file, defaults) == ["--train-dataset", "synthetic", "--train-dataset-option", "shape=16,16"]
    file.write_text('[train_dataset]\nshape = [16, 16]\n')
    with pytest.raises(UsageError, match=r"the \[train_dataset\] table needs name"):
        config.flags(file, defaults)


def test_images_of_another_shape_are_refused_naming_the_option_that_fixes_it(tmp_path, capsys):
    code = main(["-p", "seeded_plugin", "run", "--dataset", "synthetic", "--dataset-option", "shape=16,16",
                 "--train-dataset", "other-anatomy", "--methods", "vxm1", "--out", str(tmp_path / "out"),
                 "--cache-dir", str(tmp_path / "cache"), "--no-progress"])
    assert code == 2
    assert ("--train-dataset other-anatomy gives images of 64×64 and --dataset synthetic of 16×16: a network trained "
            "on one cannot register the other; --train-dataset-option shape=16,16") in capsys.readouterr().err
    assert not (tmp_path / "out" / "results.csv").exists()


def test_training_on_the_images_tested_on_is_refused(tmp_path, capsys):
    """synthetic with 100 subjects splits them otherwise than with 20: its training
    subjects include the 20's test subjects, the same images."""
    code = main(["run", "--dataset", "synthetic", "--dataset-option", "shape=16,16", "--train-dataset", "synthetic",
                 "--train-dataset-option", "n_subjects=100", "--methods", "vxm1", "--out", str(tmp_path / "out"),
                 "--cache-dir", str(tmp_path / "cache"), "--no-progress"])
    assert code == 2
    assert re.search(r"--train-dataset synthetic would train on \d+ image\(s\) that --dataset synthetic tests on "
                     r"\(synthetic-\d+", capsys.readouterr().err)
    assert main(["run", "--methods", "vxm1@synthetic", "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--methods 'vxm1@synthetic': a method trained on another dataset is not named here" in err


@pytest.fixture(scope="module")
def trained_matrix(tmp_path_factory) -> Path:
    """vxm1 trained on each of two datasets and tested on both, beside identity: one command
    (in this process: what is tested is what runs where, not the worker processes)."""
    out = tmp_path_factory.mktemp("matrix")
    code = main(["-p", "seeded_plugin", "run", "--dataset", "synthetic,other-anatomy", "--train-dataset",
                 "synthetic,other-anatomy", *SMALL, "--methods", "identity,vxm1", "--metrics", "dice,similarity",
                 "--profile", "smoke", "--train", "steps=8", "--out", str(out), "--cache-dir", str(out / "cache"),
                 "--no-progress", "--no-isolation"])
    assert code == 0
    return out


def _results(out: Path, dataset: str) -> pd.DataFrame:
    return pd.read_csv(out / dataset / "results.csv")


def test_one_command_runs_every_training_dataset_on_every_test_dataset(trained_matrix):
    here, there = _results(trained_matrix, "synthetic"), _results(trained_matrix, "other-anatomy")
    assert list(dict.fromkeys(here["method"])) == ["identity", "vxm1", "vxm1@other-anatomy"]
    assert list(dict.fromkeys(there["method"])) == ["identity", "vxm1@synthetic", "vxm1"]  # as --train-dataset has them
    trained = here.groupby("method")["train_dataset"].first()
    assert trained["vxm1"] == "synthetic" and trained["vxm1@other-anatomy"] == "other-anatomy"
    assert here.loc[here["method"] == "identity", "train_dataset"].isna().all()
    run = json.loads((trained_matrix / "synthetic" / "run.json").read_text())
    assert list(run["train_datasets"]) == ["other-anatomy"] and run["train_datasets"]["other-anatomy"]["seed"] == 7


def test_a_network_trained_on_a_and_tested_on_b_uses_a_s_weights_not_b_s(trained_matrix):
    here, there = _results(trained_matrix, "synthetic"), _results(trained_matrix, "other-anatomy")
    first = lambda frame, method: frame[frame["method"] == method].iloc[0]  # noqa: E731
    # Evaluated on other-anatomy, vxm1@synthetic loaded the weights vxm1 trained on synthetic (in the first folder).
    loaded, trained = first(there, "vxm1@synthetic"), first(here, "vxm1")
    assert loaded["train_cached"] and not trained["train_cached"]
    assert loaded["train_val_dice"] == trained["train_val_dice"] and loaded["train_seconds"] == trained["train_seconds"]
    assert first(there, "vxm1")["train_val_dice"] == first(here, "vxm1@other-anatomy")["train_val_dice"]
    # and it registers other-anatomy's pairs otherwise than the network trained there
    assert not np.allclose(there.loc[there["method"] == "vxm1@synthetic", "mse"].to_numpy(),
                           there.loc[there["method"] == "vxm1", "mse"].to_numpy(), rtol=0, atol=1e-7)


def test_the_report_shows_the_matrix_with_the_diagonal_marked(trained_matrix):
    labels = ("synthetic", "other-anatomy")
    folders = {label: ResultsFolder.read(trained_matrix / label, arrays=False) for label in labels}
    means = {label: SeedMeans.of(folder.results) for label, folder in folders.items()}
    dice = next(column for column in folders["synthetic"].metric_columns if column.name == "dice")
    table, marks = matrix(folders, means, dice)
    assert list(table.index) == [("vxm1", "synthetic"), ("vxm1", "other-anatomy"), ("identity", "—")]
    there = _results(trained_matrix, "other-anatomy")
    elsewhere = there.loc[there["method"] == "vxm1@synthetic", "dice_mean"].mean()
    assert table.at[("vxm1", "synthetic"), "other-anatomy"] == pytest.approx(elsewhere, abs=1e-12)
    assert marks.to_numpy().tolist() == [[True, False], [False, True], [False, False]]
    text = matrix_text(table, marks)
    assert text.at[("vxm1", "synthetic"), "synthetic"].endswith(IN_DISTRIBUTION)
    drop = elsewhere - table.at[("vxm1", "other-anatomy"), "other-anatomy"]
    sign = "±" if drop == 0 else "+" if drop > 0 else ""
    assert text.at[("vxm1", "synthetic"), "other-anatomy"] == f"{significant(elsewhere)} ({sign}{significant(drop)})"
    assert text.at[("identity", "—"), "synthetic"] == significant(table.at[("identity", "—"), "synthetic"])
    assert main(["report", str(trained_matrix / "synthetic"), str(trained_matrix / "other-anatomy"),
                 "--out", str(trained_matrix / "report")]) == 0
    assert "## Trained here, tested there: Dice" in (trained_matrix / "report" / "report.md").read_text()


def test_synthesised_training_images_keep_the_label_maps_and_never_the_intensities():
    dataset = Synthetic(shape=(16, 16))
    synthesised = SynthesisedImages(dataset, seed=0)
    subject, made = dataset.load(dataset.train_ids[0]), synthesised.load(dataset.train_ids[0])
    assert np.array_equal(made.seg, subject.seg) and not np.allclose(made.image, subject.image)
    assert np.array_equal(made.image, SynthesisedImages(dataset, seed=0).load(dataset.train_ids[0]).image)
    assert not np.array_equal(made.image, SynthesisedImages(dataset, seed=1).load(dataset.train_ids[0]).image)
    assert synthesised.train_ids == dataset.train_ids and synthesised.atlas_id == dataset.atlas_id
    # one contrast shared by the subjects and the atlas (so that an image loss compares like with like),
    # where the synthetic dataset draws each subject its own
    atlas = synthesised.load(dataset.atlas_id)
    contrast = lambda subject: [subject.image[subject.seg == label].mean() for label in dataset.labels]  # noqa: E731
    assert np.corrcoef(contrast(atlas), contrast(made))[0, 1] > 0.95
    assert np.corrcoef(contrast(dataset.load(dataset.atlas_id)), contrast(subject))[0, 1] < 0.95
    job = _vxm1_job(dataset)
    synth = plan_job(collect(plugin_manager([])).methods["vxm1"], {"train_images": "synth"}, dataset=dataset, seed=0,
                     profile=PROFILES["smoke"])
    context = job.training_context()
    assert synth.instantiate().weights_stem(context) != job.instantiate().weights_stem(context)


def test_the_gate_does_not_compare_runs_trained_on_other_datasets(trained_matrix, tmp_path, capsys):
    other = tmp_path / "other"
    shutil.copytree(trained_matrix / "synthetic", other)
    run = json.loads((other / "run.json").read_text())
    run["train_datasets"]["other-anatomy"]["seed"] = 8
    (other / "run.json").write_text(json.dumps(run))
    assert main(["compare", str(other), str(trained_matrix / "synthetic")]) == NOT_COMPARABLE
    printed = capsys.readouterr()
    assert "training datasets (--train-dataset): other-anatomy {" in printed.out + printed.err
