"""Rubric presets and the default safety constitution, kept as data (JSON beside this module)."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path

_HERE = Path(__file__).resolve().parent
PRESETS = {
    "instruction_quality": "instruction_quality.json",
    "safety_constitution": "safety_constitution.json",
}


@cache
def _load(name: str) -> dict:
    return json.loads((_HERE / name).read_text(encoding="utf-8"))


def rubric_preset(name: str) -> list[dict]:
    """The questions of a named preset (a fresh copy the caller may change)."""
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; known: {', '.join(sorted(PRESETS))}")
    return copy.deepcopy(_load(PRESETS[name])["questions"])


def default_constitution() -> dict:
    """`{"name", "rules": [...]}` of the default constitution (a fresh copy)."""
    return copy.deepcopy(_load("default_constitution.json"))
