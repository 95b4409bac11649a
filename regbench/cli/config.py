"""``regbench run --config bench.toml``: a benchmark as a file that can be re-run and reviewed.

The file holds ``regbench run``'s options under their long names (``max_pairs`` or
``max-pairs``); lists for the comma-joined ones, tables for the ``KEY=VALUE`` ones::

    dataset = "mni2d"
    methods = ["vxm1", "vxm2", "eca-unet", "eca-unet[dense=false]"]
    seeds = [0, 1, 2]
    profile = "converge"
    out = "results/paper"

    [dataset_options]       # --dataset-option KEY=VALUE
    n_subjects = 100
    [train_dataset]         # --train-dataset synthetic --train-dataset-option shape=160,192
    name = "synthetic"
    shape = [160, 192]
    [train]                 # --train KEY=VALUE
    until = "converged"
    [params.eca-unet]       # --param eca-unet.KEY=VALUE
    similarity = "mse"
    [timeout]               # --timeout METHOD=SECONDS (or: timeout = 600)
    ants-syn = 1800

A train × test matrix lists several datasets (``dataset = ["mni2d", "synthetic"]``,
``train_dataset = [...]``) and gives each its options in a table of its own
(``[dataset_options.synthetic]``: ``--dataset-option synthetic.KEY=VALUE``), which holds
wherever that dataset is used, for testing or training.

The file is turned into the flags it stands for, placed before the command line's own,
so the parser checks and types both alike and a flag given on the command line wins
(repeatable ``KEY=VALUE`` flags add to the file's and win on the same key). YAML
(``.yaml``/``.yml``) holds the same keys, read with PyYAML when it is installed.
"""

from __future__ import annotations

import argparse
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from regbench.cli.arguments import UsageError

# Settings holding KEY=VALUE tables, and the flag each item becomes.
TABLES = {"dataset_options": "--dataset-option", "dataset_option": "--dataset-option", "train": "--train",
          "train_dataset_options": "--train-dataset-option", "train_dataset_option": "--train-dataset-option"}
# Settings that may also be a table: the dataset's name, and its options as its other keys.
DATASET_TABLES = {"dataset": "--dataset-option", "train_dataset": "--train-dataset-option"}
NOT_IN_FILES = ("config", "command", "plugins")  # a file does not name another file, the command or -p modules


def read(path: Path) -> dict[str, Any]:
    """The settings in ``path`` (TOML, or YAML by its suffix); a UsageError naming the
    file when it is missing, malformed or not a table of settings."""
    text = path.read_text(encoding="utf-8")  # a file: checked with every path option (check_arguments)
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml  # noqa: PLC0415 - optional: only YAML files need it
        except ImportError:
            raise UsageError(f"--config {path}: reading YAML needs PyYAML (pip install pyyaml), "
                             f"or write the file as TOML") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise UsageError(f"--config {path}: not valid YAML: {error}".replace("\n", " ")) from None
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise UsageError(f"--config {path}: not valid TOML: {error}") from None
    if not isinstance(data, dict):
        raise UsageError(f"--config {path}: expected a table of settings, got {type(data).__name__}")
    return data


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return ",".join(_text(item) for item in value)
    return str(value)


def _pairs(path: Path, key: str, value: Any) -> list[str]:
    """A table's ``KEY=VALUE`` items; a table inside it is one dataset's (or method's)
    own, its items ``NAME.KEY=VALUE`` (``[dataset_options.synthetic]``)."""
    if not isinstance(value, Mapping):
        raise UsageError(f"--config {path}: {key} expects a table of KEY = VALUE, got {value!r}")
    items = []
    for name, item in value.items():
        if isinstance(item, Mapping):
            items += [f"{name}.{inner}" for inner in _pairs(path, f"{key}.{name}", item)]
        else:
            items.append(f"{name}={_text(item)}")
    return items


def _dataset_table(path: Path, key: str, value: Mapping[str, Any], option_flag: str) -> list[str]:
    """``[train_dataset]`` with ``name = "synthetic"`` and options as its other keys: the flags
    naming the dataset and setting its options."""
    name = value.get("name")
    if not isinstance(name, str) or not name:
        raise UsageError(f"--config {path}: the [{key}] table needs name = \"DATASET\", its other keys being options")
    options = {option: item for option, item in value.items() if option != "name"}
    return [f"--{key.replace('_', '-')}", name,
            *(token for item in _pairs(path, key, options) for token in (option_flag, item))]


def flags(path: Path, defaults: argparse.Namespace) -> list[str]:
    """The command-line flags ``path`` stands for; ``defaults`` (``run``'s parsed with no
    flags) tells which settings exist and which are switches or repeatable."""
    known = {dest: value for dest, value in vars(defaults).items() if dest not in NOT_IN_FILES}
    tokens: list[str] = []
    for key, value in read(path).items():
        dest = key.replace("-", "_")
        if dest in DATASET_TABLES and isinstance(value, Mapping):
            tokens += _dataset_table(path, key, value, DATASET_TABLES[dest])
        elif dest in TABLES:
            tokens += [token for item in _pairs(path, key, value) for token in (TABLES[dest], item)]
        elif dest == "params":
            if not isinstance(value, Mapping):
                raise UsageError(f"--config {path}: params expects a table per method, e.g. [params.eca-unet]")
            tokens += [token for method, table in value.items()
                       for item in _pairs(path, f"params.{method}", table) for token in ("--param", f"{method}.{item}")]
        elif dest == "timeout" and isinstance(value, Mapping):
            tokens += [token for item in _pairs(path, key, value) for token in ("--timeout", item)]
        elif dest not in known:
            valid = sorted({*known, "dataset_options", "params"})
            raise UsageError(f"--config {path}: unknown setting {key!r}; valid: {', '.join(valid)}")
        elif isinstance(known[dest], bool):  # a switch: --fresh, --no-progress...
            if not isinstance(value, bool):
                raise UsageError(f"--config {path}: {key} expects true or false, got {value!r}")
            tokens += [f"--{dest.replace('_', '-')}"] if value else []
        elif dest == "seeds" and isinstance(value, list) and len(value) == 1:  # --seeds 0 would be a count
            tokens += ["--seed", _text(value[0])]
        elif dest == "export":
            tokens += ["--export", *map(_text, value if isinstance(value, list | tuple) else [value])]
        else:
            items = value if isinstance(known[dest], list) and isinstance(value, list) else [value]
            tokens += [token for item in items for token in (f"--{dest.replace('_', '-')}", _text(item))]
    return tokens


def with_config(argv: Sequence[str], command: str, path: Path, defaults: argparse.Namespace) -> list[str]:
    """``argv`` with ``path``'s flags placed right after ``command``, before the command
    line's own flags (which therefore win)."""
    argv = list(argv)
    for index, token in enumerate(argv):
        if token == command and (index == 0 or argv[index - 1] != "-p"):
            return [*argv[: index + 1], *flags(path, defaults), *argv[index + 1 :]]
    raise UsageError(f"--config: could not find the command {command!r} in the command line")


def resolved(args: argparse.Namespace) -> dict[str, Any]:
    """Every setting the command ran with, file and flags merged (for ``run.json``)."""
    return {key: str(value) if isinstance(value, Path) else value
            for key, value in vars(args).items() if key != "command"}
