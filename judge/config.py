"""Thresholds and switches of the zero-shot judge: one typed dataclass, validated once."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class JudgeConfig:
    """Every number the cascade compares against, with the paper's values as defaults.

    Switching a step off (``relevance``, ``debias``, ``object_removal``, ``cascade``) is how the
    ablations are measured; the trace records the configuration it ran under.
    """

    # 1. relevance scan: cosine(image, rule text) below this skips the rule
    relevance: bool = True
    relevance_threshold: float = 0.22
    # 3a. debiasing against the no-image query: not met if M(x,c) - M(None,c) < -low * M(None,c),
    # met if the difference > high * (1 - M(None,c)). Switched off, M(None,c) is taken as 0.5
    # (an uninformed prior), so the same bounds still decide the confident cases.
    debias: bool = True
    debias_low: float = 0.3
    debias_high: float = 0.8
    # 3b. central object removed with an open-vocabulary detector: met if
    # M(x,c) - M(x_removed,c) > removal_margin
    object_removal: bool = True
    removal_margin: float = 0.6
    detection_confidence: float = 0.05
    # a detected region under this share of the image is judged on a crop around it
    crop_below_area: float = 0.01
    # 4. cascaded reasoning when still inconclusive; switched off, M(x,c) > fallback decides
    cascade: bool = True
    fallback_threshold: float = 0.5
    # force the reasoning step on this share of inconclusive-or-not checks (a benchmark knob:
    # deterministic by check index; 0 = only when inconclusive, as in the paper)
    force_cascade_share: float = 0.0
    reasoning_tokens: int = 128
    verdict_tokens: int = 48

    def __post_init__(self) -> None:
        unit = (
            "relevance_threshold",
            "debias_low",
            "debias_high",
            "removal_margin",
            "detection_confidence",
            "crop_below_area",
            "fallback_threshold",
            "force_cascade_share",
        )
        for name in unit:
            value = getattr(self, name)
            low = -1.0 if name == "relevance_threshold" else 0.0
            if not isinstance(value, int | float) or not low <= float(value) <= 1.0:
                raise ValueError(f"{name} must be a number in [{low:g}, 1], got {value!r}")
        for name in ("reasoning_tokens", "verdict_tokens"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 1 <= value <= 2048:
                raise ValueError(f"{name} must be an integer in [1, 2048], got {value!r}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> JudgeConfig:
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown judge settings: {', '.join(unknown)}")
        for f in fields(cls):
            if f.name in data and f.type == "bool" and not isinstance(data[f.name], bool):
                raise ValueError(f"{f.name} must be true or false")
        return cls(**data)
