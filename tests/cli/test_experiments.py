"""Experiments rather than single runs: method variants side by side, repeated seeds
with their spread in every table, a gate that knows that spread, and benchmark files.

The method under test is ``shift`` (``seeded_plugin.py``): a constant shift with a
seeded jitter, so seeds and variants give different numbers in milliseconds."""

from __future__ import annotations

import json
import re
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from paths import ROOT
from regbench_datasets.synthetic import Synthetic
from regbench_methods.eca_unet import EcaUNetMethod

from regbench.cli import main
from regbench.execution.plan import plan_job, result_key
from regbench.outputs.compare import NOT_COMPARABLE, REGRESSION, seed_allowance
from regbench.plugin.manager import collect, plugin_manager
from regbench.plugin.method import TrainingContext
from regbench.plugin.training import PROFILES
from regbench.plugin.variants import Variant, expand, split_specs

DATA = ["--dataset", "synthetic", "--dataset-option", "shape=24,28", "--dataset-option", "n_subjects=20",
        "--no-progress"]
SHIFT = ["-p", "seeded_plugin", "run"]


def run(out: Path, *args: str) -> pd.DataFrame:
    assert main([*SHIFT, *DATA, "--out", str(out), *args]) == 0
    return pd.read_csv(out / "results.csv")


# --- variants -------------------------------------------------------------------------

def test_methods_are_split_at_commas_outside_brackets():
    assert split_specs("vxm1, eca-unet[dense=true,false],eca-unet[eca=false]") == [
        "vxm1", "eca-unet[dense=true,false]", "eca-unet[eca=false]"]
    for bad in ("eca-unet[dense=false", "eca-unet]dense=false["):
        with pytest.raises(ValueError, match="unbalanced"):
            split_specs(bad)


def test_a_grid_expands_to_every_combination_with_canonical_names():
    defaults = EcaUNetMethod.default_params
    assert [v.name for v in expand("eca-unet[dense=True,false]", defaults)] == [
        "eca-unet[dense=true]", "eca-unet[dense=false]"]
    grid = expand("eca-unet[dense=true,false,eca=0,1]", defaults)
    assert [v.given for v in grid] == [{"dense": "true", "eca": "false"}, {"dense": "true", "eca": "true"},
                                       {"dense": "false", "eca": "false"}, {"dense": "false", "eca": "true"}]
    assert expand("eca-unet", defaults) == [Variant("eca-unet")]
    # a tuple-valued parameter takes the items together, not as a grid
    assert expand("shift[widths=4,8,16]", {"widths": (8, 16)})[0].given == {"widths": "4,8,16"}


@pytest.mark.parametrize(("spec", "message"), [
    ("eca-unet[dens=false]", r"method 'eca-unet\[dens=false\]' has no option 'dens'; valid: .*dense"),
    ("eca-unet[dense=maybe]", r"option dense expects true or false, got 'maybe'"),
    ("eca-unet[dense=true,dense=false]", "dense given twice"),
    ("eca-unet[false]", "expected KEY=VALUE"),
    ("eca-unet[dense=false]x", "expected NAME"),
])
def test_a_bad_variant_names_itself_and_what_was_expected(spec, message):
    with pytest.raises(ValueError, match=message):
        expand(spec, EcaUNetMethod.default_params)


def test_the_catalog_answers_methods_variants_and_their_params_in_one_call():
    found = collect(plugin_manager(["seeded_plugin"]))
    skipped = []
    chosen = found.select_methods("identity,shift[shift=0,2],shift[jitter=0]", ["shift.jitter=0.25", "shift.shift=5"],
                                  note=skipped.append)
    assert [(choice.entry.name, choice.label, dict(choice.given)) for choice in chosen] == [
        ("identity", "", {}),
        ("shift", "shift[shift=0.0]", {"jitter": "0.25", "shift": "0.0"}),  # a method's --param for all its
        ("shift", "shift[shift=2.0]", {"jitter": "0.25", "shift": "2.0"}),  # variants, under each one's own value
        ("shift", "shift[jitter=0.0]", {"jitter": "0.0", "shift": "5"})]
    assert skipped == []
    with pytest.raises(ValueError, match=r"^--param names method 'vxm1', which is not in this run \(identity, shift\)"):
        found.select_methods("identity,shift[shift=1]", ["vxm1.int_steps=7"], note=skipped.append)


def test_all_skips_a_method_that_cannot_take_the_datasets_dimensions_and_naming_it_is_an_error(monkeypatch):
    found = collect(plugin_manager([]))
    monkeypatch.setattr(found.methods["identity"].cls, "dimensions", (3,))
    skipped = []
    on_2d = [choice.entry.name for choice in found.select_methods("all", [], note=skipped.append, ndim=2)]
    assert "identity" not in on_2d and "vxm1" in on_2d
    assert "skipping method identity: registers 3D images only; this dataset's images are 2D" in skipped
    assert "identity" in [choice.entry.name for choice in found.select_methods("all", [], note=print, ndim=3)]
    with pytest.raises(ValueError, match=r"^method 'identity' registers 3D images only; this dataset's images are 2D"):
        found.select_methods("vxm1,identity", [], note=print, ndim=2)


def test_variants_of_a_network_get_their_own_result_key_and_weights():
    """eca-unet and eca-unet[dense=false] never share stored results or cached weights."""
    entry = collect(plugin_manager([])).methods["eca-unet"]
    dataset = Synthetic(shape=(32, 32), n_subjects=12)
    full = plan_job(entry, {}, dataset=dataset, seed=0, profile=PROFILES["smoke"])
    ablated = plan_job(entry, {"dense": "false"}, label="eca-unet[dense=false]", dataset=dataset, seed=0,
                       profile=PROFILES["smoke"])
    assert (full.name, ablated.name) == ("eca-unet", "eca-unet[dense=false]")
    assert ablated.params["dense"] is False and full.params["dense"] is True
    assert result_key(full) != result_key(ablated)
    context = TrainingContext(dataset=dataset, train_ids=dataset.train_ids)
    assert full.instantiate().weights_stem(context) != ablated.instantiate().weights_stem(context)


def test_variants_stand_side_by_side_in_one_run(tmp_path):
    results = run(tmp_path / "out", "--methods", "identity,shift[shift=0,2],shift[jitter=0]",
                  "--param", "shift.jitter=0.25", "--timeout", "shift=60")
    names = ["identity", "shift[shift=0.0]", "shift[shift=2.0]", "shift[jitter=0.0]"]
    assert list(dict.fromkeys(results["method"])) == names
    params = json.loads((tmp_path / "out" / "run.json").read_text())["params"]
    assert params["shift[shift=2.0]"] == {"shift": 2.0, "jitter": 0.25, "widths": [8, 16]}  # --param for every variant
    assert params["shift[jitter=0.0]"]["jitter"] == 0.0  # the variant's own value wins
    by_name = results.groupby("method")["dice_mean"].mean()
    assert by_name["shift[shift=0.0]"] != by_name["shift[shift=2.0]"]
    table = (tmp_path / "out" / "table.md").read_text()
    assert all(name in table for name in names)
    progress = [path.name for path in (tmp_path / "out" / "progress").iterdir()]
    assert len(progress) == 4  # a result key (and store folder) per variant


@pytest.mark.parametrize(("methods", "message"), [
    ("shift,shift", "--methods names shift more than once"),
    ("shift[shift=1,1.0]", r"--methods names shift\[shift=1.0\] more than once"),
    ("shift[nope=1]", r"method 'shift\[nope=1\]' has no option 'nope'"),
    ("nope[shift=1]", "unknown method 'nope'"),
])
def test_bad_methods_are_one_usage_line(methods, message, tmp_path, capsys):
    assert main([*SHIFT, *DATA, "--methods", methods, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("regbench: error:") == 1
    assert re.search(message, err), err


# --- seeds ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def three_seeds(tmp_path_factory):
    """identity and two shift variants with --seeds 3."""
    out = tmp_path_factory.mktemp("seeds") / "out"
    run(out, "--methods", "identity,shift,shift[shift=1]", "--seeds", "3")
    return out


def test_each_seeded_method_runs_per_seed_and_a_deterministic_one_once(three_seeds):
    results = pd.read_csv(three_seeds / "results.csv")
    seeds = results.groupby("method", sort=False)["seed"].unique().map(sorted).to_dict()
    assert seeds == {"identity": [0], "shift": [0, 1, 2], "shift[shift=1.0]": [0, 1, 2]}
    info = json.loads((three_seeds / "run.json").read_text())
    assert info["seeds"] == [0, 1, 2] and info["run_once"] == ["identity"]
    labels = pd.read_csv(three_seeds / "label_metrics.csv")
    assert set(labels.loc[labels["method"] == "shift", "seed"]) == {0, 1, 2}
    per_seed = results[results["method"] == "shift"].groupby("seed")["dice_mean"].mean()
    assert per_seed.nunique() == 3  # the jitter differs by seed


def test_tables_give_the_mean_over_seeds_and_the_std_across_seeds(three_seeds):
    results = pd.read_csv(three_seeds / "results.csv")
    shift = results[results["method"] == "shift"]
    per_seed = shift.groupby("seed")["dice_mean"].mean()  # the oracle: pandas on the raw rows
    table = (three_seeds / "table.md").read_text()
    row = next(line for line in table.splitlines() if line.startswith("| across seeds"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[1] == f"{results.loc[results['method'] == 'identity', 'dice_mean'].mean():.4f} (run once)"
    assert cells[2] == f"{per_seed.mean():.4f} ± {per_seed.std(ddof=1):.4f} (3 seeds)"
    pair = shift["pair"].iloc[0]
    pair_row = next(line for line in table.splitlines() if line.startswith(f"| {pair}"))
    pair_mean = shift.loc[shift["pair"] == pair, "dice_mean"].mean()
    assert f"{pair_mean:.4f} ±" in pair_row.split("|")[3]  # a pair's cell: its mean over seeds


def test_the_report_shows_the_seed_spread(three_seeds, tmp_path):
    assert main(["report", str(three_seeds), "--out", str(tmp_path)]) == 0
    report = (tmp_path / "report.md").read_text()
    assert "## Across seeds" in report and "seeds 0, 1, 2 (identity run once: deterministic)" in report
    section = report.split("## Across seeds")[1].split("## ")[0]
    assert "(3 seeds)" in section and "(run once)" in section
    assert (tmp_path / "report_files" / "dice_per_method.png").is_file()
    paired = report.split("## Paired comparison")[1]
    assert "shift[shift=1.0]" in paired  # the test runs on per-pair means over seeds


@pytest.mark.parametrize(("seeds", "message"), [
    ("0", "--seeds expects a count from 1 to 100"), ("1,1", "--seeds names a seed twice"),
    ("a,b", "--seeds expects an integer, got 'a'")])
def test_bad_seeds_are_one_usage_line(seeds, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*SHIFT, *DATA, "--methods", "shift", "--seeds", seeds, "--out", str(tmp_path / "o")])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


# --- the gate with seeds --------------------------------------------------------------

def _shifted(folder: Path, copy: Path, by_seed: dict[int, float], keep_seeds=None) -> Path:
    """A copy of ``folder`` whose shift rows all take seed 0's Dice of their pair, moved
    by ``by_seed[seed]``: a seed spread set exactly (only ``keep_seeds`` kept)."""
    shutil.copytree(folder, copy)
    results = pd.read_csv(copy / "results.csv")
    shifted = results["method"] != "identity"
    base = results[shifted & (results["seed"] == 0)].set_index(["method", "pair"])["dice_mean"]
    for index in results.index[shifted]:
        row = results.loc[index]
        results.loc[index, "dice_mean"] = base[(row["method"], row["pair"])] + by_seed.get(row["seed"], 0.0)
    if keep_seeds is not None:
        results = results[results["seed"].isin(keep_seeds) | ~shifted]
    results["seconds"] = 0.0  # speed is not what these tests judge
    results.to_csv(copy / "results.csv", index=False)
    return copy


def gate(current: Path, baseline: Path, capsys) -> tuple[int, str]:
    code = main(["compare", str(current), str(baseline)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_a_change_within_the_seed_spread_passes_and_a_larger_one_fails(three_seeds, tmp_path, capsys):
    """The baseline's three seeds give mean Dice m - 0.02, m, m + 0.02 (std 0.02). Another
    machine's float order moves a one-seed run to m - 0.015 (over the 0.01 tolerance,
    inside the seed spread): it passes; a degradation to m - 0.1 (beyond 2 standard
    errors, 0.0462) still fails."""
    baseline = _shifted(three_seeds, tmp_path / "baseline", {0: -0.02, 1: 0.0, 2: 0.02})
    drifted = _shifted(three_seeds, tmp_path / "drifted", {0: -0.015}, keep_seeds=[0])
    degraded = _shifted(three_seeds, tmp_path / "degraded", {0: -0.1}, keep_seeds=[0])
    code, printed = gate(drifted, baseline, capsys)
    assert code == 0, printed
    code, printed = gate(degraded, baseline, capsys)
    assert code == REGRESSION and "seed spread allows 0.0462" in printed, printed
    # without seeds the same 0.015 drift is a regression: the tolerance alone decides
    single = _shifted(three_seeds, tmp_path / "single", {}, keep_seeds=[0])
    single_drifted = _shifted(three_seeds, tmp_path / "single-drifted", {0: -0.015}, keep_seeds=[0])
    assert gate(single_drifted, single, capsys)[0] == REGRESSION


def test_the_seed_allowance_is_two_standard_errors_of_a_difference_of_means():
    assert seed_allowance(0.02, 3, np.nan, 1) == pytest.approx(2 * 0.02 * np.sqrt(1 + 1 / 3))
    pooled = np.sqrt((2 * 0.01**2 + 4 * 0.03**2) / 6)
    assert seed_allowance(0.01, 3, 0.03, 5) == pytest.approx(2 * pooled * np.sqrt(1 / 3 + 1 / 5))
    assert seed_allowance(np.nan, 1, np.nan, 1) == 0.0


def test_runs_of_different_configurations_are_not_compared(three_seeds, tmp_path, capsys):
    other = tmp_path / "other"
    run(other, "--methods", "identity", "--dataset-option", "n_subjects=22")
    code, printed = gate(other, three_seeds, capsys)
    assert code == NOT_COMPARABLE, printed
    assert "dataset options: " in printed and "test pairs: " in printed and "REGRESSION" not in printed


def test_runs_whose_machines_chose_different_precisions_are_not_compared(three_seeds, tmp_path, capsys):
    """``precision=auto`` is one command and two computations: bf16 on a CPU with AMX
    tiles, fp32 elsewhere. The gate says so instead of judging bf16 against fp32."""
    folders = {}
    for precision in ("bf16", "fp32"):
        folder = folders[precision] = tmp_path / precision
        shutil.copytree(three_seeds, folder)
        info = json.loads((folder / "run.json").read_text())
        info["params"]["shift"] = {**info["params"]["shift"], "precision": precision}
        (folder / "run.json").write_text(json.dumps(info))
    code, printed = gate(folders["fp32"], folders["bf16"], capsys)
    assert code == NOT_COMPARABLE and "REGRESSION" not in printed, printed
    assert "method parameters: shift precision fp32 here, bf16 in the baseline" in printed
    assert gate(folders["bf16"], tmp_path / "bf16", capsys)[0] == 0  # the same choice: judged as ever


def test_methods_this_run_did_not_ask_for_or_could_not_install_are_skipped(three_seeds, tmp_path, capsys):
    subset = tmp_path / "subset"
    shutil.copytree(three_seeds, subset)
    results = pd.read_csv(subset / "results.csv")
    results[results["method"] == "identity"].to_csv(subset / "results.csv", index=False)
    info = json.loads((subset / "run.json").read_text())
    info["requested_methods"] = "identity"
    (subset / "run.json").write_text(json.dumps(info))
    code, printed = gate(subset, three_seeds, capsys)
    assert code == 0 and "skipped: not asked for in this run (--methods identity)" in printed, printed
    info |= {"requested_methods": "all", "not_installed": {"shift": "not installed (pip install shift)"}}
    (subset / "run.json").write_text(json.dumps(info))
    code, printed = gate(subset, three_seeds, capsys)
    assert code == 0 and "skipped: not installed (pip install shift) here" in printed
    del info["not_installed"]
    (subset / "run.json").write_text(json.dumps(info))
    assert gate(subset, three_seeds, capsys)[0] == REGRESSION  # asked for all, and it is gone


# --- benchmark files ------------------------------------------------------------------

def test_a_benchmark_file_runs_and_flags_override_it(tmp_path):
    config = tmp_path / "bench.toml"
    config.write_text(textwrap.dedent("""
        dataset = "synthetic"
        methods = ["identity", "shift[shift=1]"]
        seeds = [0, 1]
        no_progress = true
        max_pairs = 2
        [dataset_options]
        shape = [24, 28]
        n_subjects = 20
        [params.shift]
        jitter = 0.1
    """))
    out = tmp_path / "out"
    assert main(["-p", "seeded_plugin", "run", "--config", str(config), "--seeds", "3", "--out", str(out)]) == 0
    results = pd.read_csv(out / "results.csv")
    assert set(results["seed"]) == {0, 1, 2}  # the flag won
    assert results["pair"].nunique() == 2 and set(results["method"]) == {"identity", "shift[shift=1.0]"}
    info = json.loads((out / "run.json").read_text())
    assert info["config_file"] == str(config)
    assert info["config"]["dataset_option"] == ["shape=24,28", "n_subjects=20"]
    assert info["params"]["shift[shift=1.0]"]["jitter"] == 0.1


def test_a_yaml_benchmark_file_reads_the_same(tmp_path):
    pytest.importorskip("yaml")
    config = tmp_path / "bench.yaml"
    config.write_text("methods: [identity]\ndataset: synthetic\ndataset_options: {shape: [24, 28]}\n"
                      "max_pairs: 1\nno_progress: true\n")
    out = tmp_path / "out"
    assert main(["run", "--config", str(config), "--out", str(out)]) == 0
    assert len(pd.read_csv(out / "results.csv")) == 1


@pytest.mark.parametrize(("text", "message"), [
    ("methodz = ['identity']", "unknown setting 'methodz'; valid: .*methods"),
    ("methods = [", "not valid TOML"),
    ("no_progress = 'yes'", "no_progress expects true or false"),
    ("max_pairs = 'x'", "argument --max-pairs: invalid int value"),
    ("dataset_options = 3", "dataset_options expects a table"),
])
def test_a_bad_benchmark_file_is_named_in_one_usage_line(text, message, tmp_path, capsys):
    config = tmp_path / "bench.toml"
    config.write_text(text + "\n")
    try:
        code = main(["run", "--config", str(config), "--out", str(tmp_path / "out")])
    except SystemExit as exit_:  # argparse's own message for a value of the wrong type
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2 and re.search(message, err), err
    assert not (tmp_path / "out").exists()


def test_the_shipped_paper_benchmark_is_the_five_way_comparison_with_three_seeds():
    """benchmarks/paper.toml parses into the paper's comparison and its ablation."""
    import tomllib  # noqa: PLC0415

    config = tomllib.loads((ROOT / "benchmarks" / "paper.toml").read_text())
    assert split_specs(",".join(config["methods"])) == [
        "vxm1", "vxm2", "eca-unet", "eca-unet[dense=false]", "eca-unet[eca=false]"]
    assert config["seeds"] == [0, 1, 2] and config["dataset"] == "mni2d"


def test_the_shipped_transmorph_benchmark_names_installed_methods_with_three_seeds():
    """benchmarks/transmorph.toml: the paper's networks and TransMorph's two sizes, every
    name one the catalogue knows (the file cannot rot silently)."""
    import tomllib  # noqa: PLC0415

    config = tomllib.loads((ROOT / "benchmarks" / "transmorph.toml").read_text())
    names = split_specs(",".join(config["methods"]))
    assert names == ["vxm1", "vxm2", "eca-unet", "transmorph-small", "transmorph"]
    assert set(names) <= set(collect(plugin_manager([])).methods.names())
    assert config["seeds"] == [0, 1, 2] and config["dataset"] == "mni2d"
