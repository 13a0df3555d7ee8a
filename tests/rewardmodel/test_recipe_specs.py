"""Composite encoder specs, and the recipe an artifact records for scoring."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from PIL import Image

from rewardmodel.artifacts import TURN_RECIPE, reward_model_load, reward_model_save
from rewardmodel.encoders import encoder_load
from rewardmodel.encoders.composite import turn_text
from rewardmodel.heads import HeadConfig, RewardHead


def test_composite_specs_build_the_composite_encoders(tiny_bert_dir: Path) -> None:
    turn = encoder_load(f"turn:text:{tiny_bert_dir}", device="cpu")
    base = encoder_load(f"text:{tiny_bert_dir}", device="cpu")
    assert turn.encoder_id.startswith("turn:") and base.encoder_id in turn.encoder_id
    rows = turn.encode([turn_text("the cat ?", "a red cat."), turn_text("the cat ?", "blue")])
    assert rows.shape == (2, turn.dim) and torch.allclose(rows.norm(dim=1), torch.ones(2))
    colour = encoder_load("colour:none")
    red, blue = Image.new("RGB", (8, 8), (220, 0, 0)), Image.new("RGB", (8, 8), (0, 0, 220))
    vectors = colour.encode([red, blue])
    assert colour.dim == 64 and float(vectors[0] @ vectors[1]) < 0.1


def test_artifact_records_its_recipe(tmp_path: Path) -> None:
    head = RewardHead(HeadConfig(image_dim=0, text_dim=4, hidden=4))
    turn = reward_model_save(
        tmp_path / "turn", head, text_encoder_id="t", image_encoder_id=None, fingerprint="f",
        recipe=TURN_RECIPE,
    )  # fmt: skip
    assert reward_model_load(turn).recipe == TURN_RECIPE
    # a model saved before recipes existed scores whole items
    whole = reward_model_save(
        tmp_path / "old", head, text_encoder_id="t", image_encoder_id=None, fingerprint="f"
    )
    config = json.loads((whole / "config.json").read_text())
    del config["recipe"]
    (whole / "config.json").write_text(json.dumps(config))
    assert reward_model_load(whole).recipe["unit"] == "item"
