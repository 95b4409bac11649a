"""Which datasets ``regbench run`` evaluates on (``--dataset``) and which its learning
methods train on (``--train-dataset``), each with its options, and the checks that a
network trained on one can register the images of the other.

Options reach a dataset three ways: ``--dataset-option KEY=VALUE`` sets it for every
dataset evaluated on, ``--train-dataset-option KEY=VALUE`` for every dataset trained on,
and ``NAME.KEY=VALUE`` (under either flag) for dataset ``NAME`` alone; under
``--dataset-option`` it holds wherever ``NAME`` is used, so a dataset named on both sides
of a train × test matrix is the same dataset on both, and its diagonal is in-distribution.
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


def _names(flag: str, text: str) -> list[str]:
    """The dataset names ``text`` joins by commas: at least one, each once."""
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise UsageError(f"{flag} expects dataset names joined by commas, got {text!r}")
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise UsageError(f"{flag} names {', '.join(twice)} more than once")
    return names


def _split(flag: str, items: Sequence[str], known: Sequence[str]) -> tuple[list[str], dict[str, list[str]]]:
    """``items`` of ``flag`` as those for every dataset (``KEY=VALUE``) and those for one
    (``NAME.KEY=VALUE``, by NAME); a NAME the run does not use is a UsageError."""
    shared: list[str] = []
    own: dict[str, list[str]] = {}
    for item in items:
        key = item.partition("=")[0]
        if "." not in key:
            shared.append(item)
            continue
        name, _, rest = item.partition(".")
        if name not in known:
            raise UsageError(f"{flag} {item!r}: names dataset {name!r}, which this run does not use "
                             f"(its datasets: {', '.join(known)})")
        own.setdefault(name, []).append(rest)
    return shared, own


def requested(args: argparse.Namespace) -> tuple[list[Requested], list[Requested]]:
    """The datasets to evaluate on and those to train on (none: each evaluated dataset
    trains its learning methods, as without ``--train-dataset``), with their options."""
    tests = _names("--dataset", args.dataset)
    trains = _names("--train-dataset", args.train_dataset) if args.train_dataset else []
    if args.train_dataset_option and not trains:
        raise UsageError("--train-dataset-option sets options of --train-dataset, which is not given")
    known = list(dict.fromkeys([*tests, *trains]))
    test_shared, named = _split("--dataset-option", args.dataset_option, known)
    train_shared, train_named = _split("--train-dataset-option", args.train_dataset_option, trains)
    return ([Requested(name, (*test_shared, *named.get(name, ()))) for name in tests],
            [Requested(name, (*named.get(name, ()), *train_shared, *train_named.get(name, ()))) for name in trains])


def same(one: Dataset, other: Dataset) -> bool:
    """Whether two datasets are one: the same plugin with the same options."""
    return one.name == other.name and dict(one.options) == dict(other.options)


def first_image(dataset: Dataset) -> np.ndarray:
    """One image of ``dataset`` (its atlas, else its first training subject, else the
    fixed image of its first test pair), to compare shapes and intensities by."""
    pairs = dataset.test_pairs()
    first = dataset.atlas_id or next(iter([*dataset.train_ids, *(pair.fixed_id for pair in pairs[:1])]))
    return dataset.load(first).image


def _shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(map(str, shape))


def check_trainable(train: Dataset, test: Dataset, *, several: bool) -> str | None:
    """A UsageError when a network trained on ``train`` cannot register ``test``'s images
    (their shapes differ), naming the option that makes them agree; a warning (returned)
    when their intensities are on different scales. ``several``: the run names several
    datasets, so an option is given as ``NAME.KEY=VALUE``."""
    train_image, test_image = first_image(train), first_image(test)
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
                f"images as each dataset gives them, so normalise both (e.g. a normalize=percentile option)")
    return None
