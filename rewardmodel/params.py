"""Typed parameters with their bounds, declared once on the config dataclasses.

A config field made with `param(...)` carries its bounds and help in its metadata; the
dataclass checks itself from them (`check_params`), and a caller outside the library (the
API) validates raw values and documents them from the same declaration (`params_schema`,
`params_clean`). No torch import: the web process reads these schemas.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

_KEY = "param"


@dataclass(frozen=True)
class ParamSpec:
    name: str
    kind: type  # int, float or bool
    default: Any
    low: float | None = None
    high: float | None = None
    nullable: bool = False
    help: str = ""

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not acceptable (None: it is)."""
        if value is None:
            return None if self.nullable else "Must not be null."
        if self.kind is bool:
            return None if isinstance(value, bool) else "Must be true or false."
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"Must be a number ({self.kind.__name__})."
        if self.kind is int and float(value) != int(value):
            return "Must be an integer."
        if not math.isfinite(value) or (
            (self.low is not None and value < self.low)
            or (self.high is not None and value > self.high)
        ):
            return f"Must be between {self.low} and {self.high}."
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.kind.__name__,
            "default": self.default,
            "min": self.low,
            "max": self.high,
            "nullable": self.nullable,
            "help": self.help,
        }


def param(
    default: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    help: str = "",
    exposed: bool = True,
) -> Any:
    """A config field with bounds (inclusive) and help; ``exposed=False`` keeps it out of the
    schema callers may set (it is still checked)."""
    meta = {"low": low, "high": high, "help": help, "exposed": exposed}
    return field(default=default, metadata={_KEY: meta})


def _kind(annotation: Any) -> tuple[type, bool]:
    args = typing.get_args(annotation)
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        kinds = [a for a in args if a is not type(None)]
        return kinds[0], type(None) in args
    return annotation, False


def _specs(config_class: type, *, exposed_only: bool) -> dict[str, ParamSpec]:
    hints = typing.get_type_hints(config_class)
    out: dict[str, ParamSpec] = {}
    for f in fields(config_class):
        meta = f.metadata.get(_KEY)
        if meta is None or (exposed_only and not meta["exposed"]):
            continue
        kind, nullable = _kind(hints[f.name])
        default = None if f.default is MISSING else f.default
        out[f.name] = ParamSpec(
            f.name, kind, default, meta["low"], meta["high"], nullable, meta["help"]
        )
    return out


def params_schema(*config_classes: type) -> dict[str, ParamSpec]:
    """The exposed parameters of ``config_classes``, in declaration order."""
    out: dict[str, ParamSpec] = {}
    for config_class in config_classes:
        out.update(_specs(config_class, exposed_only=True))
    return out


def check_params(config: Any) -> None:
    """Raise ValueError naming every field of ``config`` outside its declared bounds."""
    specs = _specs(type(config), exposed_only=False)
    bad = [name for name, spec in specs.items() if spec.problem(getattr(config, name))]
    if bad:
        raise ValueError(f"invalid {type(config).__name__} values: {', '.join(bad)} ({config})")


def params_clean(
    schema: Mapping[str, ParamSpec], raw: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """``raw`` checked against ``schema``: (every parameter, defaults filled in; problems by
    field). Names outside the schema are left to the caller."""
    clean: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, spec in schema.items():
        value = raw.get(name, spec.default)
        problem = spec.problem(value)
        if problem is not None:
            errors[name] = [problem]
        elif value is None or spec.kind is bool:
            clean[name] = value
        else:
            clean[name] = spec.kind(value)
    return clean, errors
