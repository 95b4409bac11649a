"""Where the tests find the repository's files, wherever a test module sits."""

from pathlib import Path

SUPPORT = Path(__file__).resolve().parent  # this folder: plugins and helpers tests load by name
ROOT = SUPPORT.parents[1]  # the repository
README = ROOT / "README.md"
EXAMPLE = ROOT / "examples" / "regbench-demons"  # the example plugin package
