"""Colour-term grounding: the colours an answer names against the colours of its image."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from rewardmodel.artifacts import TURN_RECIPE, reward_model_load, reward_model_save
from rewardmodel.colour_terms import (
    COLOUR_TERMS,
    N_GROUNDING,
    N_TERMS,
    N_TEXT_COLUMNS,
    colour_grounding,
    colour_term_mentions,
    colour_term_shares,
)
from rewardmodel.features import FeatureRef
from rewardmodel.heads import HeadConfig, RewardHead
from rewardmodel.item_training import (
    ItemTrainConfig,
    _fold_standardisation,
    item_pairs_from_scores,
    train_item_reward_head,
)
from rewardmodel.scoring import score_features
from tests.rewardmodel.conftest import dict_loader
from tests.stats import auc_chance_bound

TERMS = list(COLOUR_TERMS)


def _picture(background: tuple[int, int, int], shape: tuple[int, int, int]) -> Image.Image:
    image = Image.new("RGB", (64, 64), background)
    image.paste(shape, (16, 16, 48, 48))  # a quarter of the image
    return image


def test_shares_find_the_shape_and_the_background() -> None:
    shares = colour_term_shares(_picture((250, 250, 250), (200, 20, 30)))
    assert shares.shape == (N_TERMS,)
    assert shares.sum() == pytest.approx(1.0)
    assert shares[TERMS.index("red")] == pytest.approx(0.25, abs=0.02)
    assert shares[TERMS.index("white")] == pytest.approx(0.75, abs=0.02)
    assert shares[TERMS.index("blue")] == 0.0


def test_mentions_read_colour_words_synonyms_and_negation() -> None:
    flags = colour_term_mentions("A grey cat on a RED sofa, next to teal cushions.")
    assert len(flags) == N_TEXT_COLUMNS
    named = {TERMS[n] for n in range(N_TERMS) if flags[n]}
    assert named == {"gray", "red", "teal"}
    assert flags[N_TERMS] == 0.0
    assert colour_term_mentions("No, there isn't a circle.")[N_TERMS] == 1.0
    assert colour_term_mentions("Nothing blue here.")[TERMS.index("blue")] == 1.0
    # words that merely contain a colour are not colours
    assert not any(colour_term_mentions("Fred reddened; a bluebird.")[:N_TERMS])


def _grounding(answer: str, image: Image.Image | None) -> np.ndarray:
    mentions = torch.tensor([colour_term_mentions(answer)])
    shares = torch.zeros((1, N_TERMS))
    if image is not None:
        shares = torch.from_numpy(colour_term_shares(image)).unsqueeze(0)
    out = colour_grounding(mentions, shares)
    assert out.shape == (1, N_GROUNDING)
    return out[0].numpy()


def test_grounding_tells_a_named_colour_the_image_lacks() -> None:
    red_square = _picture((250, 250, 250), (200, 20, 30))
    right = _grounding("The square is red.", red_square)
    wrong = _grounding("The square is blue.", red_square)
    assert right[0] == wrong[0] == 1.0  # a colour is named
    assert right[1] > -0.3 and wrong[1] == pytest.approx(-1.0)  # least present named colour
    # nothing to compare without an image or without a colour word: zeros, negation kept
    assert np.allclose(_grounding("The square is blue.", None), 0.0)
    assert np.allclose(_grounding("No, it is a square.", red_square), [0, 0, 0, 1, 0])


def test_head_config_checks_grounding_columns() -> None:
    config = HeadConfig(
        image_dim=20, text_dim=30, ground_text_cols=(17, 30), ground_image_cols=(8, 20)
    )
    assert config.grounded
    assert HeadConfig.from_json(config.to_json()) == config
    for bad in (
        {"ground_text_cols": (17, 30)},  # one side only
        {"ground_text_cols": (16, 30), "ground_image_cols": (8, 20)},  # wrong width
        {"ground_text_cols": (18, 31), "ground_image_cols": (8, 20)},  # past the row
    ):
        with pytest.raises(ValueError):
            HeadConfig(image_dim=20, text_dim=30, **bad)
    old = HeadConfig(image_dim=20, text_dim=30).to_json()
    for key in ("ground_text_cols", "ground_image_cols"):
        old.pop(key)  # a head saved before grounding existed still loads
    assert not HeadConfig.from_json(old).grounded


def _colour_task(n_items: int, seed: int):
    """One turn per item: noise features plus colour columns; an item is good when the colour
    its answer names covers part of its image. Nothing but the colour pairing separates them."""
    rng = np.random.default_rng(seed)
    images, texts, sides, scores, good = {}, {}, {}, {}, {}
    for i in range(n_items):
        item = f"item{i}"
        colour = int(rng.integers(N_TERMS))
        named = colour if i % 2 else int((colour + 1 + rng.integers(N_TERMS - 1)) % N_TERMS)
        shares = np.zeros(N_TERMS, dtype=np.float32)
        shares[colour], shares[(colour + 5) % N_TERMS] = 0.3, 0.7
        if named == (colour + 5) % N_TERMS:
            named = (colour + 6) % N_TERMS  # the background colour would count as present
        mentions = np.zeros(N_TEXT_COLUMNS, dtype=np.float32)
        mentions[named] = 1.0
        images[item] = np.concatenate([rng.normal(size=6).astype(np.float32), shares])
        texts[f"{item}-t"] = np.concatenate([rng.normal(size=10).astype(np.float32), mentions])
        sides[item] = [FeatureRef(item, f"{item}-t")]
        good[item] = named == colour
        scores[item] = 5.0 if good[item] else 1.0
    return images, texts, sides, scores, good


def test_grounded_head_learns_the_colour_pairing_on_fresh_items() -> None:
    torch.set_num_threads(2)
    images, texts, sides, scores, good = _colour_task(240, seed=0)
    pairs = item_pairs_from_scores(scores, min_gap=2.0, others_per_item=8, seed=0)
    test_images, test_texts, test_sides, _, test_good = _colour_task(200, seed=1)
    keys = sorted(test_sides)
    accuracy = {}
    for grounded in (True, False):
        config = ItemTrainConfig(
            epochs=20, hidden=16, dropout=0.1, lr=3e-3, colour_grounding=grounded
        )
        result = train_item_reward_head(sides, pairs, dict_loader(images, texts), config=config)
        assert result.head.config.grounded is grounded
        reward = score_features(
            result.head,
            np.stack([test_images[k] for k in keys]),
            np.stack([test_texts[f"{k}-t"] for k in keys]),
        ).overall
        by_item = dict(zip(keys, reward, strict=True))
        right = [by_item[k] for k in keys if test_good[k]]
        wrong = [by_item[k] for k in keys if not test_good[k]]
        accuracy[grounded] = float(np.mean([r > w for r in right for w in wrong]))
    # 100 x 100 fresh items: chance can't reach the bound (measured: 1.0 grounded; the plain
    # head learns this small pairing too, less well: 0.87)
    assert accuracy[True] > max(0.95, auc_chance_bound(100, 100)), accuracy
    assert accuracy[True] >= accuracy[False], accuracy


def _grounded_head() -> RewardHead:
    torch.manual_seed(0)
    config = HeadConfig(
        image_dim=3 + N_TERMS,
        text_dim=5 + N_TEXT_COLUMNS,
        hidden=8,
        dropout=0.0,
        ground_text_cols=(5, 5 + N_TEXT_COLUMNS),
        ground_image_cols=(3, 3 + N_TERMS),
    )
    head = RewardHead(config).eval()
    with torch.no_grad():
        head.ground_mean.normal_()
        head.ground_std.uniform_(0.5, 2.0)
    return head


def _grounded_rows(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    shares = torch.rand((n, N_TERMS), generator=generator)
    image = torch.cat(
        [torch.randn((n, 3), generator=generator) * 3 + 2, shares / shares.sum(1, True)], 1
    )
    mentions = (torch.rand((n, N_TEXT_COLUMNS), generator=generator) > 0.7).float()
    text = torch.cat([torch.randn((n, 5), generator=generator) * 3 - 1, mentions], 1)
    return image, text


def test_fold_standardisation_keeps_a_grounded_heads_rewards() -> None:
    head = _grounded_head()
    image, text = _grounded_rows(9)
    x = torch.cat([image, text], dim=1)
    mean, std = x.mean(0), x.std(0)
    split = image.shape[1]
    for start, end in ((3, split), (split + 5, x.shape[1])):  # as the trainer leaves them
        mean[start:end], std[start:end] = 0.0, 1.0
    z = (x - mean) / std
    with torch.no_grad():
        expected = head(z[:, :split], z[:, split:]).overall
        _fold_standardisation(head, mean, std)
        assert torch.allclose(head(image, text).overall, expected, atol=1e-5)


def test_grounded_head_survives_save_and_load(tmp_path) -> None:
    head = _grounded_head()
    image, text = _grounded_rows(5)
    with torch.no_grad():
        expected = head(image, text).overall
    path = reward_model_save(
        tmp_path, head, text_encoder_id="t", image_encoder_id="i", fingerprint="f",
        recipe=TURN_RECIPE,
    )  # fmt: skip
    loaded = reward_model_load(path).head
    assert loaded.config.grounded
    with torch.no_grad():
        assert torch.allclose(loaded(image, text).overall, expected, atol=1e-6)
