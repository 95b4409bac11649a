"""A finished results folder damaged at random: hypothesis cuts a file at any byte, flips
bytes, drops a column, duplicates or deletes rows, deletes a file, writes garbage over
one or swaps two files' contents, anywhere in the folder (progress/ too), then feeds the
copy to ``report``, to ``compare`` (against the undamaged folder, both ways) and, for
damage in progress/, to the same ``regbench run`` again.

The property: the command's output is the undamaged folder's (the report's Markdown;
compare's exit status and table; the resumed run's metric columns), or it exits 2 with
exactly one ``regbench: error:`` line naming a damaged file; never a traceback, another
number, or compare's exit 1. A folder whose run.json was deleted reads as one from
before run.json existed (that is how older folders look): its output is the undamaged
folder's without run.json.

Bytes are flipped in their top bit (a text file is then no longer UTF-8; an .npz fails
its zip checksums) and rows are duplicated or deleted in the CSV tables only: a digit
turned into another digit, or a line of run.json deleted that leaves valid JSON, is an
edit of a number or a setting, which compare's own tests make on purpose; no reader can
tell it from the real thing."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from regbench.cli import main

RUN = ["run", "--methods", "identity", "--dataset", "synthetic", "--dataset-option", "shape=24,28",
       "--dataset-option", "n_subjects=10", "--max-pairs", "2", "--no-progress",
       "--no-isolation"]  # in this process: what is stored and read back is the point, not isolation
METRICS = ["dice_mean", "dice_std", "hd95_mean", "folding_percent", "sdlogj", "l2r_dice_mean", "l2r_hd95_mean",
           "l2r_sdlogj", "mse", "ncc"]
RUN_FILE = "run.json"


def _cli(argv: list[str]) -> tuple[int, str, str]:
    """``regbench ARGV`` in this process: its exit status, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code
    return code, out.getvalue(), err.getvalue()


def _report(folder: Path, out: Path) -> tuple[int, str]:
    code, _, err = _cli(["report", str(folder), "--out", str(out)])
    assert "Traceback" not in err, err
    return code, (out / "report.md").read_text() if code == 0 else err


def _compare(current: Path, baseline: Path) -> tuple[int, str]:
    code, out, err = _cli(["compare", str(current), str(baseline)])
    assert "Traceback" not in err, err
    return code, out if code != 2 else err


@dataclass(frozen=True)
class Pristine:
    """The undamaged folder and what the commands make of it (and of it without run.json)."""

    folder: Path
    files: list[str]
    report: tuple[int, str]
    compare: tuple[int, str]
    older_report: tuple[int, str]
    older_compare: tuple[tuple[int, str], tuple[int, str]]  # (older, pristine), (pristine, older)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Pristine:
    root = tmp_path_factory.mktemp("fuzz")
    folder = root / "done"
    assert main([*RUN, "--out", str(folder)]) == 0
    older = Path(shutil.copytree(folder, root / "older"))
    (older / RUN_FILE).unlink()
    return Pristine(folder=folder, files=sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()),
                    report=_report(folder, root / "report"), compare=_compare(folder, folder),
                    older_report=_report(older, root / "older-report"),
                    older_compare=(_compare(older, folder), _compare(folder, older)))


# --- damage ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Damage:
    """One kind of damage to the file ``name`` (a path inside the folder)."""

    name: str

    @property
    def files(self) -> tuple[str, ...]:
        return (self.name,)

    def apply(self, folder: Path) -> None:
        path = folder / self.name
        path.write_bytes(self.damaged(path.read_bytes()))

    def damaged(self, data: bytes) -> bytes:
        raise NotImplementedError


@dataclass(frozen=True)
class Cut(Damage):
    at: float  # of the file's length

    def damaged(self, data: bytes) -> bytes:
        return data[: int(len(data) * self.at)]


@dataclass(frozen=True)
class Flip(Damage):
    at: tuple[float, ...]

    def damaged(self, data: bytes) -> bytes:
        flipped = bytearray(data)
        for at in self.at if data else ():
            flipped[int(len(data) * at)] ^= 0x80
        return bytes(flipped)


@dataclass(frozen=True)
class Garbage(Damage):
    garbage: bytes

    def damaged(self, data: bytes) -> bytes:
        return self.garbage


@dataclass(frozen=True)
class Delete(Damage):
    def apply(self, folder: Path) -> None:
        (folder / self.name).unlink()


@dataclass(frozen=True)
class Swap(Damage):
    other: str

    @property
    def files(self) -> tuple[str, ...]:
        return (self.name, self.other)

    def apply(self, folder: Path) -> None:
        one, other = folder / self.name, folder / self.other
        one_bytes = one.read_bytes()
        one.write_bytes(other.read_bytes())
        other.write_bytes(one_bytes)


@dataclass(frozen=True)
class Rows(Damage):
    """Lines of a CSV table (the header is line 0) deleted, or repeated in place."""

    line: int
    count: int
    repeat: bool

    def damaged(self, data: bytes) -> bytes:
        lines = data.splitlines(keepends=True)
        start = self.line % len(lines) if lines else 0
        chosen = lines[start : start + self.count]
        return b"".join([*lines[:start], *(chosen * 2 if self.repeat else []), *lines[start + self.count :]])


@dataclass(frozen=True)
class DropColumn(Damage):
    column: int

    def apply(self, folder: Path) -> None:
        table = pd.read_csv(folder / self.name)
        if len(table.columns):
            table.drop(columns=table.columns[self.column % len(table.columns)]).to_csv(folder / self.name, index=False)


FRACTIONS = st.floats(0.0, 1.0, exclude_max=True)


def damage(files: list[str]) -> st.SearchStrategy[Damage]:
    """Any damage to any of ``files``; row and column damage to the CSV tables."""
    one, tables = st.sampled_from(files), [name for name in files if name.endswith(".csv")]
    table = st.sampled_from(tables or [""])  # sampled only when there are tables
    return st.one_of(
        st.builds(Cut, one, FRACTIONS),
        st.builds(Flip, one, st.lists(FRACTIONS, min_size=1, max_size=3).map(tuple)),
        st.builds(Garbage, one, st.binary(max_size=64)),
        st.builds(Delete, one),
        st.builds(Swap, one, one),
        *([st.builds(Rows, table, st.integers(0, 20), st.integers(1, 3), st.booleans()),
           st.builds(DropColumn, table, st.integers(0, 100))] if tables else []),
    )


@contextlib.contextmanager
def damaged_copy(pristine: Pristine, harm: Damage):
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(shutil.copytree(pristine.folder, Path(scratch) / "damaged"))
        harm.apply(folder)
        yield folder, Path(scratch)


def _same_or_named(outcome: tuple[int, str], expected: tuple[int, str], harm: Damage) -> None:
    """The property (see module doc) of one command's ``outcome``."""
    code, text = outcome
    if code == 2 and expected[0] != 2:
        assert text.count("regbench: error:") == 1, f"{harm}\n{text}"
        assert any(Path(name).name in text for name in harm.files), f"{harm}\n{text}"
    else:
        assert outcome == expected, f"{harm}: the output differs from the undamaged folder's\n{text[-3000:]}"


# The suite draws the same damage every time (derandomized), so a CI run never fails on
# a new draw; REGBENCH_FUZZ_EXAMPLES=N draws N fresh ones per test, to hunt.
HUNT = os.environ.get("REGBENCH_FUZZ_EXAMPLES")
FUZZ = settings(max_examples=int(HUNT or 20), derandomize=HUNT is None, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
RESUME_FUZZ = settings(FUZZ, max_examples=int(HUNT or 5))  # each resumed run starts a worker process


@FUZZ
@given(data=st.data())
def test_report_of_a_damaged_folder(pristine, data):
    harm = data.draw(damage(pristine.files), label="damage")
    deleted_run_json = harm == Delete(RUN_FILE)
    with damaged_copy(pristine, harm) as (folder, scratch):
        _same_or_named(_report(folder, scratch / "report"),
                       pristine.older_report if deleted_run_json else pristine.report, harm)


@FUZZ
@given(data=st.data())
def test_compare_of_a_damaged_folder(pristine, data):
    harm = data.draw(damage(pristine.files), label="damage")
    older = pristine.older_compare if harm == Delete(RUN_FILE) else (pristine.compare, pristine.compare)
    with damaged_copy(pristine, harm) as (folder, _):
        _same_or_named(_compare(folder, pristine.folder), older[0], harm)
        _same_or_named(_compare(pristine.folder, folder), older[1], harm)


@RESUME_FUZZ
@given(data=st.data())
def test_a_run_resumed_on_damaged_progress(pristine, data):
    stored = [name for name in pristine.files if name.startswith("progress")]
    harm = data.draw(damage(stored), label="damage")
    with damaged_copy(pristine, harm) as (folder, _):
        code, _, err = _cli([*RUN, "--out", str(folder)])
        assert code == 0 and "Traceback" not in err, f"{harm}\n{err[-3000:]}"
        resumed, before = (pd.read_csv(path / "results.csv") for path in (folder, pristine.folder))
        pd.testing.assert_frame_equal(resumed[METRICS], before[METRICS], check_exact=True)
        assert _cli(["report", str(folder)])[0] == 0
