"""No silent wrong number from a plugin: one cannot take another's name, one that
breaks at import stops the command with one line, and a method cannot change the
images it is scored against."""

from __future__ import annotations

import pandas as pd
import pytest
from test_cli import TINY, plugin_dir, write_plugin  # noqa: F401 - plugin_dir is a fixture

from regbench.cli import main
from regbench.cli.arguments import PAIRS_FAILED

# A subclass of a registered class of each kind, renamed "twin".
TWINS = {
    "method": ("from regbench_methods.identity import Identity as Base", "regbench_register_methods"),
    "dataset": ("from regbench_datasets.synthetic import Synthetic as Base", "regbench_register_datasets"),
    "metric": ("from regbench_metrics.standard import Dice as Base", "regbench_register_metrics"),
}


def error_line(err: str) -> str:
    """The one line a usage error prints (and nothing like a traceback)."""
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("regbench: error:")]
    assert len(lines) == 1, err
    return lines[0]


def twin_plugin(folder, module: str, kind: str, name: str = "twin") -> str:
    base, hook = TWINS[kind]
    return write_plugin(folder, module, f"""
        import regbench
        {base}

        class Twin(Base):
            name = {name!r}

        @regbench.hookimpl
        def {hook}(register):
            register(Twin)
    """)


def test_a_plugin_cannot_take_a_builtin_method_name(plugin_dir, tmp_path, capsys):  # noqa: F811
    plugin = twin_plugin(plugin_dir, "outside_impostor", "method", name="identity")
    assert main(["-p", plugin, "run", "--methods", "identity", *TINY, "--out", str(tmp_path / "out")]) == 2
    line = error_line(capsys.readouterr().err)
    assert "'identity'" in line and "'regbench'" in line and "'outside_impostor'" in line
    assert not (tmp_path / "out" / "results.csv").exists()


@pytest.mark.parametrize("kind", sorted(TWINS))
def test_two_plugins_cannot_register_one_name(kind, plugin_dir, capsys):  # noqa: F811
    first, second = (twin_plugin(plugin_dir, f"outside_{which}", kind) for which in ("first", "second"))
    assert main(["-p", first, "-p", second, "list"]) == 2
    line = error_line(capsys.readouterr().err)
    assert f"{kind} 'twin'" in line and "'outside_first'" in line and "'outside_second'" in line


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("raise RuntimeError('no CUDA here')", "RuntimeError: no CUDA here"),
        ("def broken(:\n    pass", "SyntaxError"),
        ("raise SystemExit(3)", "SystemExit: 3"),
    ],
)
def test_a_plugin_module_that_raises_at_import_is_one_usage_error(source, error, plugin_dir, capsys):  # noqa: F811
    plugin = write_plugin(plugin_dir, "outside_raises_at_import", source)
    assert main(["-p", plugin, "list"]) == 2
    line = error_line(capsys.readouterr().err)
    assert "'outside_raises_at_import'" in line and error in line


def test_a_method_that_overwrites_its_inputs_is_scored_on_the_true_images(plugin_dir, tmp_path):  # noqa: F811
    plugin = write_plugin(plugin_dir, "outside_overwrites", """
        import numpy as np
        import regbench
        from regbench_methods.identity import Identity

        class OverwritesMoving(Identity):
            name = "overwrites-moving"

            def register(self, fixed, moving):
                moving[...] = fixed  # would score as a perfect match
                return super().register(fixed, moving)

        class OverwritesFixed(Identity):
            name = "overwrites-fixed"

            def register(self, fixed, moving):
                fixed[...] = moving  # would also corrupt the atlas of every later pair
                return super().register(fixed, moving)

        @regbench.hookimpl
        def regbench_register_methods(register):
            register(OverwritesMoving)
            register(OverwritesFixed)
    """)
    out = tmp_path / "out"
    methods = "identity,overwrites-moving,overwrites-fixed"
    assert main(["-p", plugin, "run", "--methods", methods, *TINY, "--max-pairs", "2", "--out", str(out)]) == 0
    results = pd.read_csv(out / "results.csv")
    assert set(results["status"]) == {"ok"}
    scores = ["mse", "ncc", "dice_mean"]
    assert set(scores) <= set(results.columns)
    by_method = {method: rows.set_index("pair")[scores].sort_index() for method, rows in results.groupby("method")}
    assert len(by_method["identity"]) == 2
    for method in ("overwrites-moving", "overwrites-fixed"):
        pd.testing.assert_frame_equal(by_method[method], by_method["identity"])


@pytest.mark.parametrize("name", ["../evil", "a,b", "x[y]", "two\nlines", ""])
def test_a_name_that_is_no_file_or_word_is_refused(name, plugin_dir, capsys):  # noqa: F811
    """A method name is a folder (--save-warped, --export) and a word of --methods: "../evil"
    wrote outside the output folder, "a,b" could never be selected."""
    plugin = twin_plugin(plugin_dir, "outside_badname", "method", name)
    assert main(["-p", plugin, "list"]) == 0
    assert "needs a string attribute 'name' of letters, digits" in capsys.readouterr().err


def test_a_dataset_that_loads_another_subject_fails_its_pairs(plugin_dir, tmp_path):  # noqa: F811
    plugin = write_plugin(plugin_dir, "outside_swapped", """
        import dataclasses
        import regbench
        from regbench_datasets.synthetic import Synthetic

        class Swapped(Synthetic):
            name = "swapped"
            def load(self, subject_id):
                other = self.test_ids[0] if subject_id != self.test_ids[0] else self.test_ids[-1]
                return super().load(other if subject_id in self.test_ids else subject_id)

        @regbench.hookimpl
        def regbench_register_datasets(register):
            register(Swapped)
    """)
    code = main(["-p", plugin, "run", "--methods", "identity", "--dataset", "swapped", *TINY[2:],
                 "--no-isolation", "--out", str(tmp_path)])
    assert code == PAIRS_FAILED
    results = pd.read_csv(tmp_path / "results.csv")
    assert set(results["status"]) == {"failed"}
    assert results["error"].str.contains("loaded subject .* when asked for", regex=True).all()


def test_a_metric_that_fails_on_a_pair_is_told_and_exits_5(plugin_dir, tmp_path, capsys):  # noqa: F811
    plugin = write_plugin(plugin_dir, "outside_shortmetric", """
        import numpy as np
        import regbench

        class Short(regbench.Metric):
            name = "short"
            columns = (regbench.Column("short", "short", "one value too few", per_label=True),)
            def compute(self, outcome):
                return {"short": np.zeros(len(outcome.labels) - 1)}

        @regbench.hookimpl
        def regbench_register_metrics(register):
            register(Short)
    """)
    code = main(["-p", plugin, "run", "--methods", "identity", *TINY, "--metrics", "dice,short",
                 "--no-isolation", "--out", str(tmp_path)])
    assert code == PAIRS_FAILED
    assert "identity: a metric failed on 2 pair(s)" in capsys.readouterr().err
