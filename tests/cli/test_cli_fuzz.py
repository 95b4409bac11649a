"""The command line as an input surface: hypothesis draws ``regbench`` invocations from
the parser's own subcommands and options (valid and invalid values, empty strings,
negatives, zero, huge numbers, NaN, paths that are files, folders or missing, unknown
names, repeated flags) on tiny synthetic data, run in this process.

The property: the command exits 0 (``compare`` also 1, 3 or 4, its verdicts) or 2 with
exactly one ``regbench: error:`` line, never with a traceback; it writes nothing
outside ``--out``, the cache and ``--export``'s folder; and a run that exits 2 leaves no
results folder behind. Cases it found are regular tests in test_cli.py and test_compare.py."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from regbench.cli import main
from regbench.cli.arguments import parser

# Fixed so that every drawn run stays fast: the identity method on 16×16 synthetic images.
BASE = {"run": ["--methods", "identity", "--dataset", "synthetic", "--dataset-option", "shape=16,16",
                "--dataset-option", "n_subjects=10", "--no-progress", "--cache-dir", "cache"],
        "train": ["--methods", "identity", "--dataset", "synthetic", "--dataset-option", "shape=16,16",
                  "--no-progress", "--cache-dir", "cache"],
        "evaluate": ["--dataset", "synthetic", "--dataset-option", "shape=16,16", "--dataset-option",
                     "n_subjects=10", "--no-progress"],
        "report": [], "compare": [], "list": []}
# Options a fuzzer must not draw: ones that reach the network (a Dask scheduler) or that
# select what runs (any method may train for minutes); their checks have tests of their own.
LEFT_OUT = {"--scheduler", "--methods", "--dataset", "--metrics", "-h", "--help"}
EXIT_STATUSES = {"compare": {0, 1, 2, 3, 4}}
PATHS = ["results", "out/deep/er", "afile", "adir", "done", "missing/x", ""]
TEXTS = ["", "nope", "identity", "x=1", "a=b,c", "0,1", "identity[x=1]", "n_subjects=0", "shape=-1,4",
         "shape=16,16", "identity.x=1", "-1", "l2r", "1e9", "synthetic-0001->synthetic-atlas"]
NUMBERS = ["-3", "0", "1", "2", "1000000000", "nan", "-0.5", "abc", ""]


def _options(command: str) -> dict[str, argparse.Action]:
    """The subcommand's options, by flag, as its parser declares them."""
    commands = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))  # noqa: SLF001
    return {flag: action for action in commands.choices[command]._actions  # noqa: SLF001
            for flag in action.option_strings[:1] if flag not in LEFT_OUT}


def _values(action: argparse.Action) -> st.SearchStrategy[list[str]]:
    """Text for one occurrence of ``action``'s flag."""
    if action.nargs == 0:
        return st.just([])
    if action.choices:
        one = st.sampled_from([*action.choices, "nope", ""])
    elif action.type in (int, float) or action.dest in ("seeds",):
        one = st.sampled_from(NUMBERS)
    elif action.type is Path or action.dest in ("data_dir",):
        one = st.sampled_from(PATHS)
    else:
        one = st.sampled_from(TEXTS + NUMBERS[:3])
    count = action.nargs if isinstance(action.nargs, int) else 1
    if action.dest == "export":
        return st.tuples(st.sampled_from(["l2r", "nope"]), st.sampled_from(PATHS)).map(list)
    return st.lists(one, min_size=count, max_size=count)


@st.composite
def invocations(draw: st.DrawFn, command: str) -> list[str]:
    options = _options(command)
    flags = draw(st.lists(st.sampled_from(sorted(options)), max_size=4)) if options else []  # repeats allowed
    argv = [command, *BASE[command]]
    for flag in flags:
        argv += [flag, *draw(_values(options[flag]))]
    if command in ("report",):
        argv.insert(1, draw(st.sampled_from(PATHS)))
    if command == "compare":
        argv[1:1] = [draw(st.sampled_from(PATHS)), draw(st.sampled_from(PATHS))]
    if command == "evaluate":
        argv[1:1] = draw(st.lists(st.sampled_from(PATHS), min_size=1, max_size=2))
    return argv


@pytest.fixture(scope="module")
def workspace_template(tmp_path_factory) -> Path:
    """A folder with a finished run (``done``), a file and an empty folder."""
    root = tmp_path_factory.mktemp("fuzz")
    assert main(["run", *BASE["run"], "--out", str(root / "done")]) == 0
    (root / "afile").write_text("not a folder\n")
    (root / "adir").mkdir()
    return root


def _tree(root: Path) -> set[Path]:
    return {path.relative_to(root) for path in root.rglob("*")}


def _top(path: str) -> str:
    return Path(path).parts[0] if path else ""


def _may_write(argv: list[str]) -> set[str]:
    """The top-level names a command may write: the default outputs, the cache, ``--out``'s
    and ``--export``'s folders, and, for ``report`` without ``--out``, its results folder."""
    allowed = {"cache", "results", "evaluation"}
    for index, token in enumerate(argv):
        if token == "--out" and index + 1 < len(argv):
            allowed.add(_top(argv[index + 1]))
        if token == "--export" and index + 2 < len(argv):
            allowed.add(_top(argv[index + 2]))
    if argv[0] == "report":
        allowed.add(_top(argv[1]))
    return allowed


def _check(argv: list[str], template: Path) -> None:
    with tempfile.TemporaryDirectory() as folder:
        workspace = Path(folder) / "w"
        shutil.copytree(template, workspace)
        before = _tree(workspace)
        out, err = io.StringIO(), io.StringIO()
        cwd = os.getcwd()
        os.chdir(workspace)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    code = main(argv)
                except SystemExit as exit_:
                    code = exit_.code
        finally:
            os.chdir(cwd)
        command = argv[0]
        message = f"{argv}\n{err.getvalue()[-2000:]}"
        assert code in EXIT_STATUSES.get(command, {0, 2}), message
        if code == 2:
            assert err.getvalue().count("regbench: error:") == 1, message
        assert "Traceback" not in err.getvalue(), message
        written = {path.parts[0] for path in _tree(workspace) - before}
        allowed = _may_write(argv)
        assert written <= allowed, f"{message}\nwrote {written - allowed}"
        if command == "run" and code == 2:
            outs = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--out"] or ["results"]
            created = {Path(outs[-1]).parts[0]} - {path.parts[0] for path in before} if outs[-1] else set()
            assert not created & written, f"{message}\na failed run left {created & written}"


# The suite draws the same few invocations every time (derandomized), so a CI run never
# fails on a new draw; REGBENCH_FUZZ_EXAMPLES=N draws N fresh ones per test, to hunt.
HUNT = os.environ.get("REGBENCH_FUZZ_EXAMPLES")
FUZZ = settings(max_examples=int(HUNT or 15), derandomize=HUNT is None, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@FUZZ
@given(argv=invocations("run"))
def test_fuzzed_run(argv, workspace_template):
    _check(argv, workspace_template)


@FUZZ
@given(argv=st.sampled_from(["evaluate", "report", "compare", "list", "train"]).flatmap(invocations))
def test_fuzzed_other_commands(argv, workspace_template):
    _check(argv, workspace_template)
