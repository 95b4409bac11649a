"""results.parquet and label_metrics.parquet: the tidy tables typed as schema.py and the
metrics' declarations say, the run's settings inside, checked on read like the CSVs (a
damaged one is an error naming it, never fewer rows), read in the CSVs' place, and read
as the same tables; docs/results.md, their documented schema, held to schema.py."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from regbench.cli import main
from regbench.outputs import schema
from regbench.outputs.files import (
    LABEL_METRICS_FILE,
    PARQUET_FILES,
    RESULTS_FILE,
    RUN_FILE,
    ResultsFolder,
    RunOutput,
    write_run,
)
from regbench.outputs.integrity import DamagedResults
from regbench.outputs.parquet import ARROW_TYPES, METADATA_KEY, PANDAS_DTYPES
from regbench.outputs.report.build import write_report
from regbench.outputs.run_info import RunInfo
from regbench.plugin.metric import Column

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / "reports" / "baseline"  # committed, CSVs only: 12 methods on 6 pairs, learning ones among them
RESULTS_PARQUET, LABELS_PARQUET = PARQUET_FILES[RESULTS_FILE], PARQUET_FILES[LABEL_METRICS_FILE]


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    """reports/baseline written again by write_run: its CSVs, and now its Parquet files."""
    folder = ResultsFolder.read(BASELINE, arrays=False)
    out = tmp_path_factory.mktemp("parquet") / "written"
    write_run(out, RunOutput(folder.results, folder.label_metrics, folder.training), folder.run_info)
    return out


def csv_only(folder: Path, copy: Path) -> Path:
    """A copy of ``folder`` as written before the Parquet files: run.json records none."""
    shutil.copytree(folder, copy)
    info = json.loads((copy / RUN_FILE).read_text())
    for twin in PARQUET_FILES.values():
        (copy / twin).unlink()
        del info["files"][twin]
    (copy / RUN_FILE).write_text(json.dumps(info))
    return copy


def _cells(frame: pd.DataFrame) -> list[list[object]]:
    """What a table says, whatever its dtypes: each cell a Python value, missing as None."""
    return frame.astype(object).where(frame.notna(), None).to_numpy().tolist()


def test_every_column_has_the_arrow_type_of_its_group_or_declaration(written):
    declared = ResultsFolder.read(written, arrays=False).run_info.columns
    for name in PARQUET_FILES.values():
        fields = pq.read_schema(written / name)
        assert fields.names == pd.read_csv(written / name.replace(".parquet", ".csv")).columns.tolist()
        for field in fields:
            assert field.type == ARROW_TYPES[schema.column_type(field.name, declared)], field
    results = pq.read_schema(written / RESULTS_PARQUET)
    assert [results.field(name).type for name in ("seed", "train_steps", "train_cached", "dice_mean", "error")] == \
        [pa.int64(), pa.int64(), pa.bool_(), pa.float64(), pa.string()]
    assert pq.read_schema(written / LABELS_PARQUET).field("dice").type == pa.float64()


def _one_learned_one_not() -> RunOutput:
    """Two rows a CSV mistypes: a learning method's (counts, cached) and one without training."""
    results = pd.DataFrame({
        **schema.pair_row("vxm1", "synthetic", "b->a", "a", "b", 0), "status": ["ok", "failed"],
        "method": ["vxm1", "identity"], "seed": [0, None], "error": ["", "boom"], "dice_mean": [0.8, np.nan],
        "dice_std": [0.1, np.nan], "train_steps": [100, np.nan], "parameters": [1234, None],
        "train_cached": [True, np.nan], "extra": [1, 2], "odd": [1, "one"]})
    labels = pd.DataFrame({"method": "vxm1", "seed": 0, "pair": "b->a", "label_id": [1, 2], "label": ["x", "y"],
                           "dice": [0.7, 0.9]})
    return RunOutput(results=results, label_metrics=labels, training=pd.DataFrame())


def test_an_integer_column_with_a_missing_value_stays_integer_and_booleans_stay_bool(tmp_path):
    write_run(tmp_path, _one_learned_one_not(), RunInfo(command="regbench run", dataset="synthetic", dataset_options={},
                                                        training={}, columns=(Column("dice", "Dice", per_label=True),)))
    for results in (ResultsFolder.read(tmp_path).results, pd.read_parquet(tmp_path / RESULTS_PARQUET)):
        assert {name: str(results[name].dtype) for name in ("seed", "train_steps", "parameters", "train_cached")} == \
            {"seed": "Int64", "train_steps": "Int64", "parameters": "Int64", "train_cached": "boolean"}
        assert _cells(results[["seed", "train_steps", "train_cached", "error"]]) == \
            [[0, 100, True, None], [None, None, None, "boom"]]
        assert results["extra"].dtype == np.int64 and results["odd"].tolist() == ["1", "one"]  # undeclared: inferred
    text = pd.read_csv(tmp_path / RESULTS_FILE)  # what the CSV alone gives back
    assert text["train_steps"].dtype == np.float64 and text["train_cached"].dtype == object


def test_the_run_settings_are_in_the_files_metadata(written):
    settings = {key: value for key, value in json.loads((written / RUN_FILE).read_text()).items() if key != "files"}
    for name in PARQUET_FILES.values():
        assert json.loads(pq.read_schema(written / name).metadata[METADATA_KEY]) == settings
    assert settings["columns"] and settings["command"].startswith("regbench run")


def test_run_json_records_the_parquet_files_as_the_csvs(written):
    files = json.loads((written / RUN_FILE).read_text())["files"]
    for name, twin in PARQUET_FILES.items():
        assert files[twin]["sha256"] == hashlib.sha256((written / twin).read_bytes()).hexdigest()
        assert {key: files[twin][key] for key in ("columns", "rows")} == \
            {key: files[name][key] for key in ("columns", "rows")}


def _one_row_fewer(path: Path) -> None:
    """A readable Parquet file of the table without its last row, its metadata kept."""
    table = pq.read_table(path)
    pq.write_table(table.slice(0, table.num_rows - 1), path)


def _flip_a_byte(path: Path) -> None:
    """A bit gone bad in the middle of the file: in a number, Parquet's own format would not notice."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


DAMAGE = {
    "cut in half": lambda path: path.write_bytes(path.read_bytes()[: path.stat().st_size // 2]),
    "cut at its end": lambda path: path.write_bytes(path.read_bytes()[:-1]),
    "emptied": lambda path: path.write_bytes(b""),
    "a bit flipped": _flip_a_byte,
    "a row fewer, rewritten whole": _one_row_fewer,
    "deleted": lambda path: path.unlink(),
}


@pytest.mark.parametrize("name", [RESULTS_PARQUET, LABELS_PARQUET])
@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_parquet_file_is_an_error_naming_it(written, tmp_path, damage, name):
    copy = Path(shutil.copytree(written, tmp_path / "copy"))
    DAMAGE[damage](copy / name)
    with pytest.raises(DamagedResults, match=rf"{re.escape(str(copy / name))} .*; rerun `regbench run"):
        ResultsFolder.read(copy)


def test_parquet_files_swapped_are_an_error(written, tmp_path):
    copy = Path(shutil.copytree(written, tmp_path / "copy"))
    results, labels = (copy / RESULTS_PARQUET).read_bytes(), (copy / LABELS_PARQUET).read_bytes()
    (copy / RESULTS_PARQUET).write_bytes(labels)
    (copy / LABELS_PARQUET).write_bytes(results)
    with pytest.raises(DamagedResults, match="results.parquet is not the file run.json records"):
        ResultsFolder.read(copy)


def test_a_folder_without_parquet_files_reads_its_csvs(written, tmp_path):
    committed = ResultsFolder.read(BASELINE)
    assert len(committed.label_metrics) and committed.results["seed"].dtype == np.int64  # as pd.read_csv types it
    older = csv_only(written, tmp_path / "older")
    stray = pd.read_parquet(written / RESULTS_PARQUET).assign(dice_mean=0.0)
    stray.to_parquet(older / RESULTS_PARQUET)  # a Parquet file run.json does not record is not this run's
    assert _cells(ResultsFolder.read(older).results[["dice_mean"]]) == _cells(committed.results[["dice_mean"]])


def test_a_csv_edited_since_it_was_written_is_read_in_place_of_its_parquet(written, tmp_path):
    copy = Path(shutil.copytree(written, tmp_path / "copy"))
    edited = pd.read_csv(copy / RESULTS_FILE).assign(dice_mean=0.5)  # as the compare tests stage a regression
    edited.to_csv(copy / RESULTS_FILE, index=False)
    folder = ResultsFolder.read(copy)
    assert (folder.results["dice_mean"] == 0.5).all() and folder.results["seed"].dtype == np.int64
    assert folder.label_metrics["seed"].dtype == "Int64"  # its label table is unchanged: still the Parquet file's


def test_a_csv_older_than_its_parquet_is_not_read_and_the_runs_own_values_are(written, tmp_path):
    copy = Path(shutil.copytree(written, tmp_path / "copy"))
    twin = (copy / RESULTS_PARQUET).stat().st_mtime_ns
    pd.read_csv(copy / RESULTS_FILE).assign(dice_mean=0.5).to_csv(copy / RESULTS_FILE, index=False)
    os.utime(copy / RESULTS_FILE, ns=(twin - 10**9, twin - 10**9))  # its clock set back: it looks untouched
    read = ResultsFolder.read(copy).results["dice_mean"]
    assert _cells(read.to_frame()) == _cells(pd.read_parquet(written / RESULTS_PARQUET)[["dice_mean"]])


def test_parquet_and_csv_read_as_the_same_tables_their_types_only_better(written, tmp_path):
    typed, text = ResultsFolder.read(written), ResultsFolder.read(csv_only(written, tmp_path / "csv"))
    declared = typed.run_info.columns
    for name in ("results", "label_metrics", "training"):
        frame, csv_frame = getattr(typed, name), getattr(text, name)
        assert frame.columns.tolist() == csv_frame.columns.tolist() and _cells(frame) == _cells(csv_frame), name
        if name != "training":  # CSV only
            assert {column: str(frame[column].dtype) for column in frame} == \
                {column: PANDAS_DTYPES[schema.column_type(column, declared)] for column in frame}, name
    changed = {column for column in typed.results if typed.results[column].dtype != text.results[column].dtype}
    assert {"parameters", "train_steps", "train_cached", "error"} <= changed  # float64 or object in the CSV


def test_report_and_compare_read_either_the_same(written, tmp_path, capsys):
    older = csv_only(written, tmp_path / "csv")
    reports = []
    for folder in (written, older):
        markdown, page = write_report(folder, tmp_path / f"report-{folder.name}")
        reports.append((markdown.read_text().replace(str(folder), "RUN"), page.read_text().replace(str(folder), "RUN")))
    assert reports[0] == reports[1]
    outputs = []
    for current, baseline in ((written, older), (older, written)):
        code = main(["compare", str(current), str(baseline)])
        outputs.append((code, capsys.readouterr().out))
    assert outputs[0] == outputs[1] and outputs[0][0] != 2, outputs[0]


def _documented() -> dict[str, tuple[str, str]]:
    """docs/results.md's table of the fixed columns: name -> (Arrow type, group)."""
    rows = re.findall(r"^\| `([a-z0-9_]+)` \| (\w+) \| (\w+) \|", (ROOT / "docs" / "results.md").read_text(), re.M)
    return {name: (kind, group) for name, kind, group in rows}


def test_the_documented_schema_is_schema_py():
    groups = {"identity": schema.IDENTITY, "status": schema.STATUS, "timing": schema.TIMING, "memory": schema.MEMORY,
              "training": schema.TRAINING, "environment": schema.ENVIRONMENT, "label": schema.LABEL}
    expected = {name: (schema.column_type(name, ()), group) for group, names in groups.items() for name in names}
    assert _documented() == expected
    assert list(_documented()) == [*schema.FIXED, *schema.LABEL]  # in schema order
