"""Saving and loading trained reward models as versioned directories.

``root/v0001/`` holds ``model.safetensors`` (head weights), ``config.json`` (head shape,
encoder ids, criteria, rules, recipe, format version), ``metrics.json`` and ``data.json``
(training data fingerprint and counts). Versions are never overwritten: each save takes the
next number.

The recipe says what the head scores and how its scores make an item's: ``unit`` "item" (the
whole conversation as one text) or "turn" (one (question, answer) turn per row; the item's
reward is the minimum over its turns, a candidate turn counting with its best candidate, its
rule probabilities the maximum). A config without a recipe is an item-unit model.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file

from rewardmodel.heads import HeadConfig, RewardHead

FORMAT_VERSION = 1
WHOLE_ITEM_RECIPE: dict[str, Any] = {"trainer": "pairs", "unit": "item"}
TURN_RECIPE: dict[str, Any] = {
    "trainer": "item",
    "unit": "turn",
    "turns": "min",
    "candidates": "max",
    "rules": "max",
}
VERSION_RE = re.compile(r"^v(\d{4,})$")


@dataclass
class RewardModelArtifact:
    path: Path
    head: RewardHead | None  # None: a model with its own files (``recipe["trainer"] == "vlm"``)
    text_encoder_id: str
    image_encoder_id: str | None
    metrics: dict[str, Any]
    data: dict[str, Any]
    recipe: dict[str, Any] = field(default_factory=lambda: dict(WHOLE_ITEM_RECIPE))

    @property
    def version(self) -> int:
        return int(self.path.name[1:])


def _versions(root: Path) -> list[int]:
    if not root.is_dir():
        return []
    return sorted(int(m.group(1)) for p in root.iterdir() if (m := VERSION_RE.match(p.name)))


def reward_model_save(
    root: str | os.PathLike[str],
    head: RewardHead | None,
    *,
    text_encoder_id: str,
    image_encoder_id: str | None,
    metrics: dict[str, Any] | None = None,
    fingerprint: str,
    data_info: dict[str, Any] | None = None,
    recipe: dict[str, Any] | None = None,
    write_model: Callable[[Path], None] | None = None,
) -> Path:
    """Write the next version under ``root`` and return its directory.

    The version is assembled in a temporary folder and renamed into place, so a reader never
    sees half a model, and two concurrent saves cannot take the same number. Without a head,
    ``write_model(directory)`` writes the model's own files (a VLM's adapter and head).
    """
    if (head is None) == (write_model is None):
        raise ValueError("give either a head or write_model")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".tmp-{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        if head is not None:
            state = {k: v.detach().contiguous().cpu() for k, v in head.state_dict().items()}
            save_file(state, str(tmp / "model.safetensors"))
        else:
            write_model(tmp)  # type: ignore[misc]
        config = {
            "format_version": FORMAT_VERSION,
            "head": head.config.to_json() if head is not None else None,
            "text_encoder_id": text_encoder_id,
            "image_encoder_id": image_encoder_id,
            "recipe": recipe or WHOLE_ITEM_RECIPE,
        }
        (tmp / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
        (tmp / "metrics.json").write_text(json.dumps(metrics or {}, indent=2, sort_keys=True))
        data = {"fingerprint": fingerprint, **(data_info or {})}
        (tmp / "data.json").write_text(json.dumps(data, indent=2, sort_keys=True))
        while True:
            version = (_versions(root) or [0])[-1] + 1
            target = root / f"v{version:04d}"
            try:
                os.rename(tmp, target)  # fails if another save took this number first
                return target
            except OSError:
                if not target.exists():
                    raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def reward_model_load(path: str | os.PathLike[str]) -> RewardModelArtifact:
    """Load a saved version directory, or the latest version when given the root."""
    path = Path(path)
    if not (path / "config.json").exists():
        versions = _versions(path)
        if not versions:
            raise FileNotFoundError(f"no reward model at {path} (no config.json, no vNNNN folder)")
        path = path / f"v{versions[-1]:04d}"
    config = json.loads((path / "config.json").read_text())
    if config.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path}: unsupported reward model format {config.get('format_version')!r} "
            f"(this library reads {FORMAT_VERSION})"
        )
    head = None
    if config["head"] is not None:
        head = RewardHead(HeadConfig.from_json(config["head"]))
        head.load_state_dict(load_file(str(path / "model.safetensors")))
        head.eval()
    return RewardModelArtifact(
        path=path,
        head=head,
        text_encoder_id=config["text_encoder_id"],
        image_encoder_id=config["image_encoder_id"],
        metrics=json.loads((path / "metrics.json").read_text()),
        data=json.loads((path / "data.json").read_text()),
        recipe=config.get("recipe") or dict(WHOLE_ITEM_RECIPE),
    )
