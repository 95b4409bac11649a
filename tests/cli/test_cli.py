"""The command line end to end: list, run, errors, and plugins from outside the package."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from paths import README

from regbench.cli import main
from regbench.cli.arguments import PAIRS_FAILED, UsageError, user_input

TINY = ["--dataset", "synthetic", "--dataset-option", "shape=24,28", "--dataset-option", "n_subjects=10", "--no-progress"]


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    """A folder on sys.path where a test writes plugin modules of its own."""
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("outside_")]:
        del sys.modules[name]


def write_plugin(folder: Path, name: str, source: str) -> str:
    (folder / f"{name}.py").write_text(textwrap.dedent(source))
    return name


def test_list_shows_methods_and_datasets(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("identity", "ants-affine", "ants-syn", "mni2d", "synthetic"):
        assert re.search(rf"^\s+{re.escape(name)}\s", out, re.MULTILINE), name


def test_run_writes_tidy_results_and_table(tmp_path, capsys):
    out_dir = tmp_path / "out"
    assert main(["run", "--methods", "identity", *TINY, "--out", str(out_dir)]) == 0
    printed = capsys.readouterr().out
    results = pd.read_csv(out_dir / "results.csv")
    labels = pd.read_csv(out_dir / "label_metrics.csv")
    assert len(results) == 2 and set(results["status"]) == {"ok"}  # 10 subjects -> 2 test pairs
    assert {"dice_mean", "dice_std", "seconds", "device", "torch_version", "method_versions"} <= set(results.columns)
    assert len(labels) == 2 * 4  # pairs × labels
    assert results["dice_mean"].iloc[0] == pytest.approx(labels[labels["pair"] == results["pair"].iloc[0]]["dice"].mean())
    table = (out_dir / "table.md").read_text()
    assert "| mean" in table and "identity" in table
    assert "s / pair" in printed and "mean" in printed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--methods", "nope"], r"unknown method 'nope'; valid methods: .*identity"),
        (["--methods", "identity", "--dataset", "nope"], r"unknown dataset 'nope'; valid datasets: .*mni2d.*synthetic"),
        (["--methods", "identity", "--dataset-option", "size=3"], r"no option 'size'; valid: .*n_subjects"),
    ],
)
def test_bad_names_exit_2_and_list_the_valid_ones(args, message, capsys, tmp_path):
    assert main(["run", *args, "--out", str(tmp_path)]) == 2
    assert re.search(message, capsys.readouterr().err)


def test_missing_dependency_is_listed_as_not_installed(plugin_dir, capsys, tmp_path):
    plugin = write_plugin(plugin_dir, "outside_missing", """
        import regbench

        class NeedsNothingThere(regbench.Method):
            name = "needs-missing"
            def register(self, fixed, moving):
                raise AssertionError("never called")

        class NeedsASubmodule(NeedsNothingThere):
            name = "needs-submodule"

        @regbench.hookimpl
        def regbench_register_methods(register):
            register(NeedsNothingThere, requires=("module_that_is_not_installed",),
                     install="pip install 'outside-missing[gpu]'")
            # a dotted name whose package is missing (as itk.ElastixPython without ITK)
            register(NeedsASubmodule, requires=("package_that_is_not_installed.sub",))
    """)
    assert main(["-p", plugin, "list"]) == 0
    listed = capsys.readouterr().out
    assert re.search(r"needs-missing\s+not installed \(pip install 'outside-missing\[gpu\]'\)", listed)
    assert re.search(r"needs-submodule\s+not installed \(pip install package_that_is_not_installed.sub\)", listed)
    assert main(["-p", plugin, "run", "--methods", "needs-missing", *TINY, "--out", str(tmp_path)]) == 2
    assert "not installed" in capsys.readouterr().err
    blocked = [flag for plugin_name in ("ants", "dipy", "elastix", "fireants", "convexadam", "vxm", "eca-unet",
                                        "transmorph", "unigradicon", "keras")
               for flag in ("-p", f"no:{plugin_name}")]
    assert main(["-p", plugin, *blocked, "run", "--methods", "all", *TINY, "--out", str(tmp_path)]) == 0
    assert "skipping method needs-missing" in capsys.readouterr().err
    assert set(pd.read_csv(tmp_path / "results.csv")["method"]) == {"identity"}


def test_a_failing_method_or_pair_loses_nothing_else(plugin_dir, tmp_path):
    plugin = write_plugin(plugin_dir, "outside_flaky", """
        import numpy as np
        import regbench

        class FailsOnce(regbench.Method):
            name = "fails-once"
            calls = 0
            def register(self, fixed, moving):
                FailsOnce.calls += 1
                if FailsOnce.calls == 1:
                    raise RuntimeError("boom on the first pair")
                return regbench.RegistrationResult(np.zeros((fixed.ndim, *fixed.shape), np.float32))

        class BadShape(regbench.Method):
            name = "bad-shape"
            def register(self, fixed, moving):
                return regbench.RegistrationResult(np.zeros(fixed.shape, np.float32))

        class CannotStart(regbench.Method):
            name = "cannot-start"
            def prepare(self, context):
                raise MemoryError("no room to train")
            def register(self, fixed, moving):
                raise AssertionError("never called")

        @regbench.hookimpl
        def regbench_register_methods(register):
            for method in (FailsOnce, BadShape, CannotStart):
                register(method)
    """)
    methods = "fails-once,bad-shape,cannot-start,identity"
    assert main(["-p", plugin, "run", "--methods", methods, *TINY, "--out", str(tmp_path)]) == PAIRS_FAILED
    results = pd.read_csv(tmp_path / "results.csv").set_index(["method", "pair"]).sort_index()
    status = results["status"].groupby("method").apply(list).to_dict()
    assert status == {"bad-shape": ["failed"] * 2, "cannot-start": ["failed"] * 2,
                      "fails-once": ["failed", "ok"], "identity": ["ok"] * 2}
    errors = results["error"].groupby("method").first()
    assert "boom on the first pair" in errors["fails-once"]
    assert "expected (2, 24, 28)" in errors["bad-shape"]
    assert "MemoryError: no room to train" in errors["cannot-start"]


def test_readme_plugin_example_shows_up_and_runs(plugin_dir, tmp_path, capsys):
    """The README's example, as a reader would copy it, registered from outside the package."""
    text = README.read_text()
    source = re.search(r"```python\n# my_regbench_plugin\.py\n(.*?)```", text, re.DOTALL).group(1)
    plugin = write_plugin(plugin_dir, "outside_readme_example", source)
    assert main(["-p", plugin, "list"]) == 0
    assert "centre-of-mass" in capsys.readouterr().out
    out_dir = tmp_path / "out"
    assert main(["-p", plugin, "run", "--methods", "centre-of-mass,identity", *TINY, "--out", str(out_dir)]) == 0
    results = pd.read_csv(out_dir / "results.csv")
    assert set(results["status"]) == {"ok"}
    assert set(results["method"]) == {"centre-of-mass", "identity"}


def test_without_an_install_command_the_hint_names_the_missing_modules(plugin_dir, capsys):
    plugin = write_plugin(plugin_dir, "outside_no_hint", """
        import regbench

        class NeedsTwo(regbench.Method):
            name = "needs-two"
            def register(self, fixed, moving):
                raise AssertionError("never called")

        @regbench.hookimpl
        def regbench_register_methods(register):
            register(NeedsTwo, requires=("numpy", "module_that_is_not_installed"))
    """)
    assert main(["-p", plugin, "list"]) == 0
    assert re.search(r"needs-two\s+not installed \(pip install module_that_is_not_installed\)", capsys.readouterr().out)


def test_a_plugin_module_that_cannot_be_imported_is_one_usage_line(capsys):
    assert main(["-p", "not_a_module_anywhere", "list"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("regbench: error: plugin module 'not_a_module_anywhere' could not be imported")
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_plugins_from_the_environment_variable(plugin_dir, monkeypatch, capsys):
    plugin = write_plugin(plugin_dir, "outside_env", """
        import regbench
        from regbench_methods.identity import Identity

        class Still(Identity):
            name = "still"

        @regbench.hookimpl
        def regbench_register_methods(register):
            register(Still)
    """)
    monkeypatch.setenv("REGBENCH_PLUGINS", plugin)
    assert main(["list"]) == 0
    assert re.search(r"^\s+still\s", capsys.readouterr().out, re.MULTILINE)


# --- command-line mistakes, each one clear line (the first ones found by hand; the
# timeouts, the seed count that ran CI out of memory and the empty paths, which meant the
# current folder, by tests/cli/test_cli_fuzz.py) -------------------------------------------

@pytest.mark.parametrize(("args", "message"), [
    (["--max-pairs", "0"], "--max-pairs must be at least 1, got 0"),
    (["--max-pairs", "-3"], "--max-pairs must be at least 1, got -3"),
    (["--figure-pair", "nope"], "--figure-pair 'nope' is not a pair of this run; its pairs: synthetic-"),
    (["--prepare-timeout", "1000000000"], "--prepare-timeout must be at most 10000000, got 1e+09"),
    (["--timeout", "1000000000"], "--timeout must be positive and at most 1e+07 s, got '1000000000'"),
    (["--repeats", "1000000"], "--repeats must be at most 100"),
    (["--batch-pairs", "0"], "--batch-pairs must be at least 1, got 0"),
    (["--workers", "0"], "--workers must be at least 1, got 0"),
    (["--threads", "0"], "--threads must be at least 1, got 0"),
    (["--repeats", "0"], "--repeats must be at least 1, got 0"),
    (["--max-pairs", "x"], "argument --max-pairs: invalid int value: 'x'"),
    (["--seeds", "1000000000"], "--seeds expects a count from 1 to 100 or seeds joined by commas"),
    (["--seed", "-1"], "--seed expects a seed from 0 to 4294967295, got '-1'"),
    (["--seeds", "0,99999999999999"], "--seeds expects a seed from 0 to 4294967295, got '99999999999999'"),
    (["--out", ""], "argument --out: expected a path, got an empty one"),
    (["--export", "l2r", ""], "--export FORMAT DIR: expected a path, got an empty one"),
    (["--data-dir", " "], "--data-dir: expected a path, got an empty one"),
    # what the run selects (the plugin catalogue's checks)
    (["--methods", ""], "--methods needs 'all' or at least one method name"),
    (["--methods", "identity]"], "unbalanced ']' in methods 'identity]'"),
    (["--metrics", ","], "--metrics needs 'all' or at least one metric name"),
    (["--metrics", "nope"], "unknown metric 'nope'; valid metrics: "),
    (["--param", "identity"], "--param expects METHOD.KEY=VALUE, got 'identity'"),
    (["--param", "nope.x=1"], "--param names method 'nope', which is not in this run (identity)"),
    (["--param", "identity.x"], "expected KEY=VALUE for --param identity, got 'x'"),
    (["--param", "identity.x=1"], "method 'identity' has no option 'x'; valid: none"),
    (["--dataset-option", "x"], "expected KEY=VALUE for dataset 'synthetic', got 'x'"),
    (["--train", "nope=1"], "--train: unknown setting 'nope'; valid settings: "),
])
def test_out_of_range_options_are_one_usage_line(args, message, tmp_path, capsys):
    try:
        code = main(["run", "--methods", "identity", *TINY, "--out", str(tmp_path / "out"), *args])
    except SystemExit as exit_:  # argparse's own type errors
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2 and err.count("regbench: error:") == 1 and message in err, err
    assert not (tmp_path / "out").exists()  # a run that exits 2 leaves no results folder


def test_the_grammar_imports_neither_the_execution_machinery_nor_the_outputs():
    code = ("import sys, regbench.cli.arguments\n"
            "print(sorted(m for m in sys.modules if m.startswith(('regbench.execution', 'regbench.outputs'))))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"


def test_a_mistake_found_while_checking_the_input_is_a_usage_error_with_its_prefix():
    with pytest.raises(UsageError, match=r"^--export l2r: two pairs share a name$"):
        with user_input("--export l2r: "):
            raise ValueError("two pairs share a name")


def test_an_output_path_that_is_a_file_is_named(tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.write_text("")
    for out in (taken, taken / "below"):
        assert main(["run", "--methods", "identity", *TINY, "--out", str(out)]) == 2
        assert f"--out {out}: " in capsys.readouterr().err
    assert main(["run", "--methods", "identity", *TINY, "--out", str(tmp_path / "o"),
                 "--export", "l2r", str(taken)]) == 2
    assert f"--export FORMAT {taken}: is a file" in capsys.readouterr().err
    assert main(["report", str(taken)]) == 2
    assert f"RESULTS {taken}: is a file; expected a folder" in capsys.readouterr().err


def test_a_label_pattern_that_matches_nothing_is_a_usage_error(tmp_path, capsys):
    from layouts import nifti_folder  # noqa: PLC0415

    data = nifti_folder(tmp_path / "data", n=6, shape=(16, 16, 16))
    args = ["run", "--methods", "identity", "--dataset", "nifti-pairs", "--data-dir", str(data), "--no-progress",
            "--dataset-option", "images=img_*.nii.gz", "--out", str(tmp_path / "out")]
    assert main([*args, "--dataset-option", "segs=nomatch_*.nii.gz"]) == 2
    assert "no label maps match segs='nomatch_*.nii.gz'" in capsys.readouterr().err
    assert main(args) == 0  # no segs option: images without labels, said plainly
    table = (tmp_path / "out" / "table.md").read_text()
    assert "no labels" in table and "failed" not in table


def test_output_to_a_file_gets_lines_not_progress_bar_frames(tmp_path):
    """Progress bars are for terminals: redirected, a run (its worker processes too) logs
    one line per method trained and per method done, and no bar frames."""
    log = tmp_path / "run.log"
    command = [sys.executable, "-m", "regbench.cli", "run", "--methods", "identity,vxm1", "--dataset", "synthetic",
               "--dataset-option", "shape=32,32", "--dataset-option", "n_subjects=12", "--profile", "smoke",
               "--train", "steps=30", "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache")]
    with log.open("w") as file:
        assert subprocess.run(command, stdout=file, stderr=subprocess.STDOUT, check=False).returncode == 0
    text = log.read_text()
    assert "\r" not in text and "it/s" not in text and "step/s" not in text
    assert "regbench: vxm1: trained, 30 steps in " in text
    assert "regbench: identity: 2 pair(s) registered and scored, 0 failed" in text
