"""Which datasets ``regbench run`` evaluates on (``--dataset``) and which its learning
methods train on (``--train-dataset``), each with its options, and the checks that a
network trained on one can register the images of the other, and was not trained on
the images it is tested on.

Options reach a dataset two ways, in the order given (a later one wins, so a flag on
the command line wins over a benchmark file's): ``--dataset-option`` sets an option of
the datasets evaluated on (``KEY=VALUE``: every one; ``NAME.KEY=VALUE``: dataset NAME
alone), and of a dataset trained on that has the same name, so that a dataset named on
both sides of a train × test matrix is by default the same dataset on both, its
diagonal in-distribution; ``--train-dataset-option`` (the same two forms) then sets
options of the datasets trained on alone. ``--data-dir`` reaches the datasets evaluated
on and those trained on of the same name; another one trained on takes its folder as
``--train-dataset-option NAME.data_dir=PATH``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from regbench.cli.arguments import UsageError
from regbench.plugin.dataset import Dataset

# Intensity scales further apart than this (the ratio of the images' 99th percentiles)
# are warned of: a network sees intensities as the dataset gives them.
INTENSITY_RATIO = 2.0


@dataclass(frozen=True)
class Requested:
    """A dataset as the command line names it: its name and its ``KEY=VALUE`` options."""

    name: str
    options: tuple[str, ...] = ()


def names(flag: str, text: str) -> list[str]:
    """The dataset names ``text`` joins by commas: at least one, each once."""
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise UsageError(f"{flag} expects dataset names joined by commas, got {text!r}")
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise UsageError(f"{flag} names {', '.join(twice)} more than once")
    return names


def _applies(item: str, name: str, known: Sequence[str], flag: str) -> str | None:
    """Item ``KEY=VALUE`` of ``flag`` as it applies to dataset ``name``: itself, or for
    ``NAME.KEY=VALUE`` its ``KEY=VALUE`` when NAME is ``name``; None when it names
    another; a NAME the run does not use (``known``) is a UsageError."""
    key = item.partition("=")[0]
    if "." not in key:
        return item
    named, _, rest = item.partition(".")
    if named not in known:
        raise UsageError(f"{flag} {item!r}: names dataset {named!r}, which this run does not use "
                         f"(its datasets: {', '.join(known)})")
    return rest if named == name else None


def _options(flag: str, items: Sequence[str], name: str, known: Sequence[str], *, shared: bool = True) -> list[str]:
    """The items of ``flag`` that set options of dataset ``name``, in order (``shared``:
    with those for every dataset)."""
    applied = [(item.partition("=")[0], _applies(item, name, known, flag)) for item in items]
    return [option for key, option in applied if option is not None and (shared or "." in key)]


def requested(args: argparse.Namespace) -> tuple[list[Requested], list[Requested]]:
    """The datasets to evaluate on and those to train on (none: each evaluated dataset
    trains its learning methods, as without ``--train-dataset``), with their options."""
    tests = names("--dataset", args.dataset)
    trains = names("--train-dataset", args.train_dataset) if args.train_dataset else []
    if args.train_dataset_option and not trains:
        raise UsageError("--train-dataset-option sets options of --train-dataset, which is not given")
    known = list(dict.fromkeys([*tests, *trains]))
    return ([Requested(name, tuple(_options("--dataset-option", args.dataset_option, name, known)))
             for name in tests],
            [Requested(name, (*_options("--dataset-option", args.dataset_option, name, known, shared=name in tests),
                              *_options("--train-dataset-option", args.train_dataset_option, name, trains)))
             for name in trains])


def one_dataset(args: argparse.Namespace) -> Requested:
    """``--dataset`` with its options, for the commands that read one dataset (``train``,
    ``evaluate``): ``NAME.KEY=VALUE`` items, as ``run`` takes them, must name it."""
    return Requested(args.dataset, tuple(_options("--dataset-option", args.dataset_option, args.dataset,
                                                  [args.dataset])))


def same(one: Dataset, other: Dataset) -> bool:
    """Whether two datasets are one: the same plugin with the same options."""
    return one.name == other.name and dict(one.options) == dict(other.options)


def first_image(dataset: Dataset, *, tested: bool) -> np.ndarray:
    """One image of ``dataset`` to compare shapes and intensities by: the fixed image of
    its first test pair (``tested``: what a network registers there), else its atlas or
    first training subject (what a network trains on)."""
    tests = [pair.fixed_id for pair in dataset.test_pairs()[:1]] if tested else []
    atlas = [dataset.atlas_id] if dataset.atlas_id is not None else []
    subjects = [*tests, *atlas, *dataset.train_ids]
    if not subjects:
        raise ValueError(f"dataset {dataset.name!r} has no {'test pair' if tested else 'training subject'} to read")
    return dataset.load(subjects[0]).image


def check_not_tested_on(train: Dataset, test: Dataset) -> None:
    """A UsageError when a training subject of ``train`` is an image ``test`` tests on
    (the same id and the same image: one plugin with other options, e.g. another
    ``n_subjects``, can split its subjects otherwise): a network would be scored on
    images it trained on, the very number a generalisation test must not report."""
    tested = {subject for pair in test.test_pairs() for subject in (pair.fixed_id, pair.moving_id)}
    tested.discard(test.atlas_id)  # the atlas is every pair's fixed image, on both sides, by design
    shared = [subject for subject in train.train_ids if subject in tested]
    seen = [subject for subject in shared if np.array_equal(train.load(subject).image, test.load(subject).image)]
    if seen:
        shown = ", ".join(seen[:3]) + (f" (and {len(seen) - 3} more)" if len(seen) > 3 else "")
        raise UsageError(f"--train-dataset {train.name} would train on {len(seen)} image(s) that --dataset "
                         f"{test.name} tests on ({shown}): its other options split the subjects otherwise; "
                         f"give both the same split options, or train on another dataset")


def _shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(map(str, shape))


def check_trainable(train: Dataset, test: Dataset, *, several: bool) -> str | None:
    """A UsageError when a network trained on ``train`` cannot register ``test``'s images
    (their shapes differ), naming the option that makes them agree; a warning (returned)
    when their intensities are on different scales. ``several``: the run names several
    datasets, so an option is given as ``NAME.KEY=VALUE``."""
    train_image, test_image = first_image(train, tested=False), first_image(test, tested=True)
    if train_image.shape != test_image.shape:
        if "shape" in train.default_options:  # with several datasets, for the dataset wherever it is used
            flag = f"--dataset-option {train.name}." if several else "--train-dataset-option "
            fix = f"{flag}shape={','.join(map(str, test_image.shape))}"
        elif "shape" in test.default_options:
            fix = f"--dataset-option shape={','.join(map(str, train_image.shape))}"
        else:
            fix = "crop or pad one dataset's images to the other's shape (neither has a shape option)"
        raise UsageError(f"--train-dataset {train.name} gives images of {_shape_text(train_image.shape)} and "
                         f"--dataset {test.name} of {_shape_text(test_image.shape)}: a network trained on one cannot "
                         f"register the other; {fix}")
    scales = [float(np.percentile(image, 99)) for image in (train_image, test_image)]
    low, high = sorted(scales)
    if high > INTENSITY_RATIO * max(low, 1e-12):
        return (f"--train-dataset {train.name}'s intensities (99th percentile {scales[0]:.3g}) and --dataset "
                f"{test.name}'s ({scales[1]:.3g}) differ more than {INTENSITY_RATIO:g}-fold; learning methods take "
                f"images as each dataset gives them, so normalise both (a folder dataset's normalize option)")
    return None
