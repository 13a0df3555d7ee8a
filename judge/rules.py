"""A rule as the judge reads it: text, preconditions (an AND of ORs) and central objects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_TEXT = 2000
MAX_ITEMS = 16


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string")
    value = value.strip()
    if len(value) > MAX_TEXT:
        raise ValueError(f"{what} is longer than {MAX_TEXT} characters")
    return value


@dataclass(frozen=True)
class JudgeRule:
    """``preconditions``: every entry must hold (AND); an entry holds when any of its
    alternatives is visible (OR). Empty, the objectified text (else the text) is the one
    precondition. ``central_objects``: words an open-vocabulary detector looks for, to remove
    them and ask again."""

    key: str
    text: str
    objectified: str = ""
    preconditions: tuple[tuple[str, ...], ...] = ()
    central_objects: tuple[str, ...] = ()

    @property
    def chain(self) -> tuple[tuple[str, ...], ...]:
        if self.preconditions:
            return self.preconditions
        return ((self.objectified or self.text,),)

    @property
    def scan_text(self) -> str:
        return self.objectified or self.text

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "text": self.text,
            "objectified": self.objectified,
            "preconditions": [list(p) for p in self.preconditions],
            "central_objects": list(self.central_objects),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JudgeRule:
        """Accepts the stored shape; a precondition may be a string (one alternative)."""
        if not isinstance(data, dict):
            raise ValueError("a rule must be an object")
        key = _text(data.get("key"), "rule key")[:64]
        raw = data.get("preconditions") or []
        if not isinstance(raw, list) or len(raw) > MAX_ITEMS:
            raise ValueError(f"preconditions must be a list of at most {MAX_ITEMS}")
        chain: list[tuple[str, ...]] = []
        for n, entry in enumerate(raw):
            alternatives = [entry] if isinstance(entry, str) else entry
            if not isinstance(alternatives, list) or not 1 <= len(alternatives) <= MAX_ITEMS:
                raise ValueError(f"precondition {n + 1} must be a string or a list of strings")
            chain.append(tuple(_text(a, f"precondition {n + 1}") for a in alternatives))
        objects = data.get("central_objects") or []
        if not isinstance(objects, list) or len(objects) > MAX_ITEMS:
            raise ValueError(f"central_objects must be a list of at most {MAX_ITEMS} words")
        objectified = data.get("objectified") or ""
        return cls(
            key=key,
            text=_text(data.get("text"), f"text of rule {key}"),
            objectified=_text(objectified, "objectified text") if objectified else "",
            preconditions=tuple(chain),
            central_objects=tuple(_text(o, "central object")[:100] for o in objects),
        )
