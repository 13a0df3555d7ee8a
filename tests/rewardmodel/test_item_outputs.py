"""Item scores from turn scores, and criterion/rule read-outs fitted on item-level labels."""

from __future__ import annotations

import numpy as np
import torch

from rewardmodel.conversation import TurnSpec, aggregate_item_scores
from rewardmodel.evaluation import spearman
from rewardmodel.features import FeatureRef
from rewardmodel.heads import HeadConfig, RewardHead
from rewardmodel.item_outputs import ItemTarget, aggregate_turn_scores, fit_item_outputs
from rewardmodel.scoring import Scores, score_features
from tests.stats import chance_bound


def test_aggregate_takes_best_candidate_then_min_over_turns() -> None:
    specs = [
        TurnSpec("a", 1, None, "q", "x"),
        TurnSpec("a", 3, 0, "q", "c0"),
        TurnSpec("a", 3, 1, "q", "c1"),
        TurnSpec("a", 3, 2, "q", "c2"),
        TurnSpec("b", 1, None, "q", "y"),
    ]
    scores = Scores(
        overall=np.array([0.5, -1.0, 0.2, 0.1, 2.0]),
        criteria={"clarity": np.array([0.9, 0.0, 0.3, 0.8, 0.7])},
        rules={"pii": np.array([0.1, 0.9, 0.2, 0.05, 0.6])},
    )
    items = aggregate_turn_scores(specs, scores)
    # turn 3 counts with candidate 1 (its best), and the item is as good as its worst turn
    assert items["a"].best_candidates == {3: 1}
    assert items["a"].overall == 0.2
    assert items["a"].criteria == {"clarity": 0.3} and items["a"].rules["pii"] == 0.2
    assert items["b"].best_candidates == {} and items["b"].overall == 2.0
    expected = aggregate_item_scores(specs, scores.overall)
    assert {k: v.overall for k, v in items.items()} == expected


def _items(n: int, seed: int):
    """Two turns per item; a turn's first feature is its quality, the second flags a rule."""
    rng = np.random.default_rng(seed)
    texts, sides, ratings, verdicts = {}, {}, [], []
    for i in range(n):
        item, refs, quality, flagged = f"i{i}", [], [], False
        for t in range(2):
            x = rng.normal(size=6).astype(np.float32)
            key = f"{item}-{t}"
            texts[key] = x
            refs.append(FeatureRef(None, key))
            quality.append(float(x[0]))
            flagged |= bool(x[1] > 1.0)
        sides[item] = refs
        ratings.append(ItemTarget(item, "clarity", float(1 / (1 + np.exp(-2 * min(quality))))))
        verdicts.append(ItemTarget(item, "pii", 1.0 if flagged else 0.0))
    return texts, sides, ratings, verdicts


def test_fitted_readouts_predict_held_out_items_and_keep_the_reward() -> None:
    torch.set_num_threads(1)  # tiny tensors: more threads only contend
    torch.manual_seed(0)
    head = RewardHead(HeadConfig(image_dim=0, text_dim=6, hidden=64, dropout=0.0)).eval()
    texts, sides, ratings, verdicts = _items(600, seed=0)

    def load(refs):  # text-only sides
        return np.zeros((len(refs), 0), np.float32), np.stack([texts[r.text_key] for r in refs])

    train = {f"i{i}" for i in range(450)}
    fitted = fit_item_outputs(
        head,
        sides,
        load,
        criteria=["clarity"],
        rules=["pii"],
        ratings=[t for t in ratings if t.item_id in train],
        verdicts=[t for t in verdicts if t.item_id in train],
    )
    keys = sorted(texts)
    image, text = np.zeros((len(keys), 0), np.float32), np.stack([texts[k] for k in keys])
    scores = score_features(fitted, image, text)
    assert np.allclose(scores.overall, score_features(head, image, text).overall)
    specs = [TurnSpec(k.split("-")[0], int(k.split("-")[1]), None, "", "") for k in keys]
    items = aggregate_turn_scores(specs, scores)
    held = [t for t in ratings if t.item_id not in train]
    predicted = [items[t.item_id].criteria["clarity"] for t in held]
    assert spearman(np.asarray(predicted), np.asarray([t.value for t in held])) > 0.8
    rule_hits = [
        (items[t.item_id].rules["pii"] > 0.5) == bool(t.value)
        for t in verdicts
        if t.item_id not in train
    ]
    # a read-out that learned nothing is right at most at the base rate of its majority class
    base = np.mean([bool(t.value) for t in verdicts if t.item_id not in train])
    assert np.mean(rule_hits) > max(0.85, chance_bound(len(rule_hits), p=max(base, 1 - base)))
