"""What every training recipe hands back to the run service for saving."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from core.errors import DomainError

Config = TypeVar("Config")


@dataclass
class TrainedModel:
    """A trained head and what describes it (metrics, data, encoders, how it scores items)."""

    head: Any  # rewardmodel.heads.RewardHead; None for a model saved by ``write_model``
    metrics: dict[str, Any]
    fingerprint: str
    steps: int
    train_pairs: int
    eval_pairs: int
    criteria: list[str]
    rules: list[str]
    text_encoder_id: str
    image_encoder_id: str | None
    recipe: dict[str, Any]  # see rewardmodel.artifacts
    cancelled: bool = False
    data_info: dict[str, Any] = field(default_factory=dict)
    # writes the model's own files into an artifact version (the VLM recipe: adapter + head)
    write_model: Callable[[Path], None] | None = None
    # item id -> the model's reward on each held-out item (compared with each annotator's
    # scores there: ``readouts.agreement_with_annotators``); not saved
    held_out_rewards: dict[str, float] = field(default_factory=dict)


def in_eval(item_id: str, fraction: float, seed: int) -> bool:
    """Whether an item is held out: the trainers' own split, by item hash."""
    from rewardmodel.evaluation import item_in_eval

    return item_in_eval(item_id, fraction, seed)


def config_from_hyper(config_class: type[Config], hyper: dict[str, Any]) -> Config:
    """A library training config from the run's hyper-parameters (its own fields only)."""
    names = {f.name for f in fields(config_class)}  # type: ignore[arg-type]
    values = {k: v for k, v in hyper.items() if k in names}
    try:
        return config_class(**values)
    except ValueError as exc:
        raise DomainError("validation_error", str(exc)) from exc
