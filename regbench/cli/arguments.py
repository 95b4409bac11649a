"""The command line's grammar: subcommands, options and their defaults, and the
usage error every command reports the same way (one ``regbench: error:`` line, exit 2).

Kept free of plugins and torch, so that ``regbench --help``, ``report`` and
``compare`` start at once.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NoReturn

from regbench.common.defaults import EXPORT_FORMATS, PAIR_TIMEOUT, SPEED_FACTOR
from regbench.plugin import options
from regbench.plugin.training import PROFILES

USAGE_ERROR = 2
# `run` and `evaluate`: every table written, but some requested pair failed (its row
# says why). Not 1, 3 or 4, which `compare` gives its verdicts.
PAIRS_FAILED = 5
INTERRUPTED = {"SIGINT": 130, "SIGTERM": 143}  # 128 + the signal's number, as shells report it
BROKEN_PIPE = 141  # 128 + SIGPIPE: the reader of the output went away (`regbench list | head`)
DESCRIPTION = ("regbench: compare deformable image registration methods on the same data, warping, "
               "metrics and timing.")


class UsageError(Exception):
    """Bad command-line input; reported with exit status 2."""


@contextlib.contextmanager
def user_input(prefix: str = "") -> Iterator[None]:
    """Where the command's input is checked (names, options, parameters, the data it
    points at): a ValueError raised there is a mistake in the command, reported as a
    UsageError (``prefix`` and its message). Only there: elsewhere a ValueError is a bug,
    and keeps its traceback."""
    try:
        yield
    except ValueError as error:
        raise UsageError(f"{prefix}{error}") from None


def assignments(flag: str, items: Iterable[str]) -> dict[str, str]:
    """``KEY=VALUE`` items of a repeatable option, or a UsageError naming ``flag``."""
    with user_input():
        return options.parse_assignments(flag, items)


def _integer(flag: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{flag} expects an integer, got {text!r}") from None


def path(text: str) -> Path:
    """A path option's value; an empty one would mean the current folder, never what was meant."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a path, got an empty one")
    return Path(text)


SEEDS = range(2**32)  # what numpy, torch and keras all accept as a seed
MOST_SEEDS = 100  # a count beyond is a typo (and each seed is a full training per method)


def seed(flag: str, text: str) -> int:
    """One seed, within the range every library regbench seeds accepts."""
    value = _integer(flag, text)
    if value not in SEEDS:
        raise argparse.ArgumentTypeError(f"{flag} expects a seed from 0 to {SEEDS[-1]}, got {text!r}")
    return value


def seed_list(text: str) -> tuple[int, ...]:
    """``--seeds``: seeds joined by commas (``0,1,2``), or how many (``3``: seeds 0, 1 and 2)."""
    parts = [part.strip() for part in text.split(",")]
    if len(parts) == 1:
        count = _integer("--seeds", parts[0])
        if not 1 <= count <= MOST_SEEDS:
            raise argparse.ArgumentTypeError(f"--seeds expects a count from 1 to {MOST_SEEDS} or seeds joined by "
                                             f"commas, got {text!r}")
        return tuple(range(count))
    seeds = tuple(seed("--seeds", part) for part in parts)
    if len(set(seeds)) < len(seeds):
        raise argparse.ArgumentTypeError(f"--seeds names a seed twice: {text!r}")
    return seeds


def _data() -> argparse.ArgumentParser:
    """Options of every command that reads a dataset."""
    data = argparse.ArgumentParser(add_help=False)
    data.add_argument("--dataset", default="mni2d", help="dataset name (default: mni2d, embedded)")
    data.add_argument("--data-dir", default=None, metavar="PATH",
                      help="the dataset's folder, for datasets you bring (oasis2d, oasis3d, l2r-oasis, l2r-nlst, "
                           "nifti-pairs)")
    data.add_argument("--dataset-option", action="append", default=[], metavar="[NAME.]KEY=VALUE",
                      help="set a dataset option, e.g. n_subjects=100 (repeatable); NAME.KEY=VALUE sets it for "
                           "dataset NAME alone (of several in `run`: --dataset A,B; also a --train-dataset of that "
                           "name, as KEY=VALUE is)")
    data.add_argument("--no-progress", action="store_true", help="hide progress bars (on a terminal) and progress lines (in a file)")
    return data


def _scoring() -> argparse.ArgumentParser:
    """Options of the commands that score pairs (``run`` and ``evaluate``)."""
    scoring = argparse.ArgumentParser(add_help=False)
    scoring.add_argument("--max-pairs", type=int, default=None, metavar="N", help="evaluate only the first N test pairs")
    scoring.add_argument("--metrics", default="all", help="'all' (every installed metric) or names joined by commas")
    scoring.add_argument("--figure-pair", default=None, metavar="PAIR",
                         help="pair shown in the report's qualitative figure (default: the first test pair)")
    return scoring


def _shared() -> argparse.ArgumentParser:
    """Options of ``run`` and ``train``."""
    shared = argparse.ArgumentParser(add_help=False, parents=[_data()])
    shared.add_argument("--methods", default="all",
                        help="'all' (every installed method) and names joined by commas; NAME[KEY=VALUE,...] is a "
                             "variant, a method of its own (eca-unet[dense=false]); KEY=A,B is a grid of variants")
    shared.add_argument("--param", action="append", default=[], metavar="METHOD.KEY=VALUE",
                        help="set a method parameter, e.g. eca-unet.dense=false (repeatable)")
    shared.add_argument("--seed", dest="seeds", type=lambda text: (seed("--seed", text),), default=(0,),
                        metavar="N", help="seed for every method (default: 0)")
    shared.add_argument("--seeds", dest="seeds", type=seed_list, metavar="S1,S2,...|COUNT",
                        help="run every method once per seed (e.g. 0,1,2, or 3 for seeds 0, 1 and 2): tables give the "
                             "mean over seeds ± the std across seeds; a method whose results do not depend on the "
                             "seed runs once")
    shared.add_argument("--profile", choices=sorted(PROFILES), default=None,
                        help="training profile of learning methods (default: converge where CUDA is available, "
                             "else quick, a CPU budget far from converged; paper: as published)")
    shared.add_argument("--train", action="append", default=[], metavar="KEY=VALUE[,KEY=VALUE]",
                        help="override a setting of the profile (repeatable): steps, epochs, lr, batch_size, until "
                             "(budget or converged), validation_fraction, validate_every, patience, tolerance; "
                             "e.g. --train until=converged,steps=3000")
    shared.add_argument("--cache-dir", type=path, default=None,
                        help="where trained weights are kept (default: $REGBENCH_CACHE or ~/.cache/regbench)")
    shared.add_argument("--prepare-timeout", type=float, default=None, metavar="SECONDS",
                        help="kill a method whose training (or loading) takes longer (default: no limit)")
    shared.add_argument("--no-isolation", action="store_true",
                        help="run methods in this process (for a debugger): no timeouts, a crash ends the run")
    return shared


def _export_option(command: argparse.ArgumentParser, what: str) -> None:
    formats = "; ".join(f"{name}: {text}" for name, text in EXPORT_FORMATS.items())
    command.add_argument("--export", nargs=2, default=None, metavar=("FORMAT", "DIR"),
                         help=f"also write {what} into DIR/<method>/ in FORMAT ({formats})")


def _run_options(run: argparse.ArgumentParser) -> None:
    run.add_argument("--config", type=path, default=None, metavar="FILE",
                     help="read the run's settings from a TOML (or YAML) file, e.g. benchmarks/paper.toml; flags "
                          "given here override it; the settings used go into run.json")
    run.add_argument("--out", type=path, default=Path("results"),
                     help="output folder (default: results); with several --dataset names, one folder each: OUT/NAME")
    run.add_argument("--train-dataset", default=None, metavar="NAME[,NAME...]",
                     help="learning methods train on this dataset (or load weights trained there) and every method "
                          "is evaluated on --dataset (default: train on --dataset); several: one row each; a method "
                          "trained on another dataset than the one evaluated is named METHOD@NAME; --dataset may "
                          "name several too (a train × test matrix, one folder each: OUT/NAME)")
    run.add_argument("--train-dataset-option", action="append", default=[], metavar="[NAME.]KEY=VALUE",
                     help="set an option of the training dataset(s) alone, e.g. shape=160,192 (repeatable; "
                          "NAME.KEY=VALUE for one of several; data_dir=PATH for a folder dataset)")
    run.add_argument("--wait", action="store_true",
                     help="when another regbench command is writing into OUT, wait for it (default: exit 2 at once)")
    run.add_argument("--save-warped", action="store_true",
                     help="write warped images, warped labels and displacement fields as NIfTI into OUT/warped/")
    _export_option(run, "every method's fields")
    run.add_argument("--timeout", action="append", default=[], metavar="[METHOD=]SECONDS",
                     help=f"kill a method that takes longer on one pair and record the pair as failed "
                          f"(default {PAIR_TIMEOUT:g} s; METHOD=SECONDS for one method; repeatable)")
    run.add_argument("--workers", type=int, default=1, metavar="N",
                     help="evaluate with N worker processes at once (default 1; methods side by side share the "
                          "cores, so compare speeds from runs with one); with --scheduler local, the Dask workers "
                          "started")
    run.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                     help="run on this Dask cluster, or 'local' for a Dask LocalCluster of --workers workers "
                          "(needs pip install 'regbench[dask]')")
    run.add_argument("--threads", type=int, default=None, metavar="N",
                     help="CPU threads of every worker process, wherever it runs (default: this machine's cores); "
                          "learned methods train to the same weights only with the same count")
    run.add_argument("--repeats", type=int, default=1, metavar="K",
                     help="time each registration K times, each after the reference workload, and keep the fastest "
                          "(default 1; the CI gate uses 3)")
    run.add_argument("--batch-pairs", type=int, default=1, metavar="N",
                     help="register up to N pairs that share a fixed image in one call, for methods that can "
                          "(the learned networks: one forward pass); each pair's seconds are the call's share "
                          "(default 1: pair by pair)")
    run.add_argument("--fresh", action="store_true",
                     help="discard results stored in OUT by an earlier run (default: reuse them and compute the rest)")


# Every numeric option's range and every path option's kind, checked in one place before
# any work starts (check_arguments). Names are argparse's dests (export_dir: --export's
# DIR); an option not given (None) is not checked.
AT_LEAST_ONE = ("max_pairs", "workers", "repeats", "threads", "batch_pairs")
MOST_SECONDS = 10**7  # a timeout beyond (115 days) is a typo, and more than the OS's waits accept
AT_MOST = {"workers": 256, "threads": 256, "repeats": 100, "prepare_timeout": MOST_SECONDS}  # beyond: a typo
POSITIVE = ("prepare_timeout", "speed_factor")
NOT_NEGATIVE = ("dice_tolerance",)
WRITTEN_FOLDERS = ("out", "cache_dir", "export_dir")  # created when missing: never a file, always writable
READ_FOLDERS = ("data_dir", "results", "current", "baseline", "folders")  # must exist
READ_FILES = ("config",)
POSITIONAL = {"results": "RESULTS", "current": "CURRENT", "baseline": "BASELINE", "folders": "FOLDER"}


def _flag(dest: str) -> str:
    if dest == "export_dir":
        return "--export FORMAT"
    return POSITIONAL.get(dest) or f"--{dest.replace('_', '-')}"


def writable(path: Path) -> bool:
    """Whether a folder can be made (or written) at ``path``: it, or its nearest existing
    parent, is a folder this process may write in."""
    existing = next(folder for folder in (path, *path.parents) if folder.exists())
    return existing.is_dir() and os.access(existing, os.W_OK | os.X_OK)


def check_arguments(args: argparse.Namespace) -> None:
    """A UsageError for the first option out of its range or path of the wrong kind."""
    given = vars(args)
    for names, lowest, rule in ((AT_LEAST_ONE, 1, "at least 1"), (POSITIVE, 0, "positive"),
                                (NOT_NEGATIVE, 0, "at least 0")):
        for name in names:
            value = given.get(name)
            if value is None:
                continue
            if value < lowest or (rule == "positive" and value == 0) or value != value:  # noqa: PLR0124 - NaN
                raise UsageError(f"{_flag(name)} must be {rule}, got {value:g}")
            if value > AT_MOST.get(name, float("inf")):
                raise UsageError(f"{_flag(name)} must be at most {AT_MOST[name]}, got {value:g}")
    export = given.get("export")
    if export is not None:
        given = {**given, "export_dir": export[1]}
    for name in (*WRITTEN_FOLDERS, *READ_FOLDERS, *READ_FILES):
        values = given.get(name)
        for value in values if isinstance(values, list) else [values]:
            if value is None:
                continue
            if not str(value).strip():  # options read as text (--data-dir, --export's DIR)
                raise UsageError(f"{_flag(name)}{' DIR' if name == 'export_dir' else ''}: expected a path, got an empty one")
            path = Path(value).expanduser()
            if name in WRITTEN_FOLDERS and path.exists() and not path.is_dir():
                raise UsageError(f"{_flag(name)} {value}: is a file; expected a folder (or a path to create one)")
            if name in WRITTEN_FOLDERS and not writable(path.absolute()):
                raise UsageError(f"{_flag(name)} {value}: cannot be written here (a file on the way, or no permission)")
            if name in READ_FOLDERS and not path.is_dir():
                raise UsageError(f"{_flag(name)} {value}: {'is a file' if path.exists() else 'no such folder'}; "
                                 f"expected a folder")
            if name in READ_FILES and not path.is_file():
                raise UsageError(f"{_flag(name)} {value}: {'is a folder' if path.exists() else 'no such file'}; "
                                 f"expected a file")


class _Parser(argparse.ArgumentParser):
    """argparse's parser, with its errors in regbench's one form: the usage, then one
    ``regbench: error:`` line, exit status 2 (argparse would name the subcommand)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(USAGE_ERROR, f"regbench: error: {message}\n")


def parser() -> argparse.ArgumentParser:
    main = _Parser(prog="regbench", description=DESCRIPTION)
    main.add_argument("-p", dest="plugins", action="append", default=[], metavar="MODULE",
                      help="load a plugin module (repeatable); 'no:NAME' blocks an installed plugin")
    commands = main.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list methods, datasets and metrics, installed or not")
    shared = _shared()
    _run_options(commands.add_parser("run", parents=[shared, _scoring()],
                                     help="register a dataset's test pairs with each method and compare"))
    commands.add_parser("train", parents=[shared], help="train (and cache) learning methods without evaluating")
    evaluate = commands.add_parser("evaluate", parents=[_data(), _scoring()],
                                   help="score displacement fields or transforms made elsewhere (Learn2Reg's layout, "
                                        "--save-warped fields, ITK/ANTs/elastix transforms) against a dataset, with a "
                                        "run's tables")
    evaluate.add_argument("folders", type=path, nargs="+", metavar="FOLDER",
                          help="a folder of one method's fields or transforms; its name names the method. Transforms "
                               "are named per pair sub-<moving>_from-<moving>_to-<fixed>_mode-image_xfm (ids with "
                               "letters and digits only) with .h5, .nii.gz, .mat, .txt (ITK or elastix) or .tfm, "
                               "or antsRegistration's outputs for -o <that name>_ (_0GenericAffine.mat, _1Warp.nii.gz)")
    _export_option(evaluate, "the fields read")
    evaluate.add_argument("--out", type=path, default=Path("evaluation"), help="output folder (default: evaluation)")
    evaluate.add_argument("--wait", action="store_true",
                          help="when another regbench command is writing into OUT, wait for it (default: exit 2 at once)")
    report = commands.add_parser("report", help="Markdown and HTML report (tables, plots, statistics) of a results "
                                                "folder, or one report across several datasets' folders")
    report.add_argument("results", type=path, nargs="+", metavar="RESULTS",
                        help="a folder written by `regbench run`; several, one per dataset: a combined report "
                             "(methods ranked across datasets, then each dataset's tables)")
    report.add_argument("--out", type=path, default=None,
                        help="where to write the report (default: the results folder; required with several)")
    gate = commands.add_parser("compare", help="exit 1 when a method's metrics or speed regressed against a baseline run "
                                               "(3: none did, but some speed was measured under contention)")
    gate.add_argument("current", type=path, help="results folder of the run to check")
    gate.add_argument("baseline", type=path, help="results folder of the baseline run (e.g. reports/baseline)")
    gate.add_argument("--dice-tolerance", type=float, default=None,
                      help="allowed drop of mean Dice (default: the Dice metric's own, 0.01)")
    gate.add_argument("--tolerance", action="append", default=[], metavar="METRIC=VALUE",
                      help="allowed worsening of a metric's mean (default: what the metric declares; repeatable)")
    gate.add_argument("--speed-factor", type=float, default=SPEED_FACTOR,
                      help=f"allowed growth of the speed ratio (default {SPEED_FACTOR})")
    return main
