"""Tiny random-init checkpoints saved to disk, and a learnable synthetic preference task."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rewardmodel.features import FeatureRef
from rewardmodel.pairs import PreferencePair
from tests.tiny_models import SPECIAL_TOKENS, tiny_bert

VOCAB = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    *["a", "b", "c", "cat", "dog", "sat", "on", "the", "mat", "red", "blue"],
]


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bert(tmp_path_factory.mktemp("tiny-bert"), VOCAB[len(SPECIAL_TOKENS) :])


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    path = tmp_path_factory.mktemp("tiny-clip")
    config = CLIPConfig(
        text_config={"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
                     "intermediate_size": 32, "vocab_size": 64},
        vision_config={"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
                       "intermediate_size": 32, "image_size": 32, "patch_size": 8},
        projection_dim=12,
    )  # fmt: skip
    CLIPModel(config).save_pretrained(path)
    CLIPImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    ).save_pretrained(path)
    return path


def synthetic_task(
    n_items: int = 600, candidates: int = 4, dim_image: int = 16, dim_text: int = 16, seed: int = 0
) -> tuple[list[PreferencePair], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Items with an image vector and candidate texts; a candidate is better the more it
    agrees with its image (an interaction the head must learn) plus a text-only quality term."""
    rng = np.random.default_rng(seed)
    quality_dir = rng.normal(size=dim_text)
    images: dict[str, np.ndarray] = {}
    texts: dict[str, np.ndarray] = {}
    pairs = []
    for item in range(n_items):
        image_key = f"{item:064x}"
        images[image_key] = rng.normal(size=dim_image).astype(np.float32)
        scored = []
        for c in range(candidates):
            text = rng.normal(size=dim_text).astype(np.float32)
            key = f"{item:032x}{c + 1:032x}"
            texts[key] = text
            quality = float(images[image_key][:dim_text] @ text) + 0.5 * float(quality_dir @ text)
            scored.append((quality, key))
        scored.sort(reverse=True)
        for a in range(candidates):
            for b in range(a + 1, candidates):
                pairs.append(
                    PreferencePair(
                        item_id=f"item-{item}",
                        chosen=FeatureRef(image_key, scored[a][1]),
                        rejected=FeatureRef(image_key, scored[b][1]),
                    )
                )
    return pairs, images, texts


def dict_loader(images: dict[str, np.ndarray], texts: dict[str, np.ndarray]):
    def load(refs):
        return (
            np.stack([images[r.image_key] for r in refs]).astype(np.float32),
            np.stack([texts[r.text_key] for r in refs]).astype(np.float32),
        )

    return load
