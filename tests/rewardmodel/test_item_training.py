"""Item-level (min over turns) training: learns which turn spoils an item from item verdicts."""

from __future__ import annotations

import numpy as np
import torch

from rewardmodel.features import FeatureRef
from rewardmodel.heads import HeadConfig, RewardHead
from rewardmodel.item_training import (
    ItemPair,
    ItemTrainConfig,
    _fold_standardisation,
    item_pairs_from_scores,
    train_item_reward_head,
)
from rewardmodel.scoring import score_features
from tests.rewardmodel.conftest import dict_loader
from tests.stats import auc_chance_bound, chance_bound


def _task(n_items: int = 240, seed: int = 0):
    """Items of three turns; a defective item has one turn with a negative first feature.

    Text features sit on an offset far from zero with a small scale, so standardisation
    matters; the image is shared noise.
    """
    rng = np.random.default_rng(seed)
    images, texts, sides, scores, bad_turns = {}, {}, {}, {}, []
    for i in range(n_items):
        item = f"item{i}"
        images[item] = rng.normal(size=4).astype(np.float32)
        defective = i % 3 == 0
        refs = []
        for t in range(3):
            key = f"{item}-t{t}"
            x = rng.normal(size=8).astype(np.float32)
            x[0] = abs(x[0]) + 0.5
            if defective and t == i % 3:
                x[0] = -x[0]
                bad_turns.append(key)
            texts[key] = 5.0 + 0.1 * x
            refs.append(FeatureRef(item, key))
        sides[item] = refs
        scores[item] = 1.0 if defective else 5.0
    return images, texts, sides, scores, bad_turns


def test_item_training_finds_the_bad_turn() -> None:
    torch.set_num_threads(2)
    images, texts, sides, scores, bad_turns = _task()
    pairs = item_pairs_from_scores(scores, min_gap=2.0, others_per_item=6, seed=0)
    assert pairs and all(scores[p.chosen] > scores[p.rejected] for p in pairs)
    config = ItemTrainConfig(
        epochs=30, hidden=16, dropout=0.1, eval_fraction=0.2, lr=3e-3, temperature=0.1
    )
    result = train_item_reward_head(sides, pairs, dict_loader(images, texts), config=config)
    # chance can't reach it: held-out pairs, each right with probability 1/2 for a head that
    # learned nothing (and far above: measured 1.0)
    assert result.metrics["eval_accuracy"] > chance_bound(result.metrics["eval_pairs"])
    assert result.metrics["eval_accuracy"] > 0.9
    # the returned head reads raw features (standardisation folded in): the bad turns score
    # below the good turns of the same items, though only item-level verdicts were given
    keys = sorted(texts)
    reward = score_features(
        result.head,
        np.stack([images[k.split("-")[0]] for k in keys]),
        np.stack([texts[k] for k in keys]),
    ).overall
    by_key = dict(zip(keys, reward, strict=True))
    bad = [by_key[k] for k in bad_turns]
    good = [by_key[k] for k in keys if k not in set(bad_turns)]
    turn_accuracy = np.mean([b < g for b in bad for g in good])
    assert turn_accuracy > max(0.9, auc_chance_bound(len(bad), len(good))), turn_accuracy


def test_fold_standardisation_matches_standardised_input() -> None:
    torch.manual_seed(0)
    head = RewardHead(HeadConfig(image_dim=3, text_dim=5, hidden=8, dropout=0.0)).eval()
    x = torch.randn(7, 8) * 3 + 2
    mean, std = x.mean(0), x.std(0)
    z = (x - mean) / std
    expected = head(z[:, :3], z[:, 3:]).overall
    _fold_standardisation(head, mean, std)
    assert torch.allclose(head(x[:, :3], x[:, 3:]).overall, expected, atol=1e-5)


def test_item_pair_validation() -> None:
    sides = {"a": [FeatureRef(None, "a")]}
    try:
        train_item_reward_head(sides, [ItemPair("a", "b")], dict_loader({}, {}))
    except ValueError as error:
        assert "without sides" in str(error)
    else:
        raise AssertionError("an item pair naming an unknown item must be refused")
