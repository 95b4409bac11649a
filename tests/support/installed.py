"""A package made to look installed, for a test: the metadata pip writes for it (a
``dist-info`` folder with ``METADATA`` and ``entry_points.txt``) in a folder the test
puts on ``sys.path``, where :mod:`importlib.metadata` finds it as it finds any
installed distribution. Cheaper than building and installing a wheel, and the same
to regbench, which reads only that metadata and imports the module."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path


def write_metadata(folder: Path, name: str, version: str, entry_points: Mapping[str, Mapping[str, str]]) -> Path:
    """``folder``/NAME-VERSION.dist-info declaring ``entry_points`` (group -> name -> module)."""
    info = folder / f"{re.sub(r'[-_.]+', '_', name).lower()}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{key} = {value}\n" for key, value in points.items()) + "\n"
        for group, points in entry_points.items()))
    return info


def metadata_of(project: Path, folder: Path) -> Path:
    """The metadata ``pip install`` writes for the package in ``project`` (its pyproject.toml)."""
    declared = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    return write_metadata(folder, declared["name"], declared["version"], declared.get("entry-points", {}))
