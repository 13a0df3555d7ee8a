"""End to end on the demo corpus: training on noisy simulated judgments learns the truth."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import torch

from demo.corpus.builder import build_demo_corpus
from demo.corpus.simulate import load_ground_truth, simulate_judgments
from rewardmodel.conversation import (
    aggregate_item_scores,
    candidate_pairs,
    record_turns,
    records_turn_examples,
)
from rewardmodel.encoders import default_text_encoder
from rewardmodel.encoders.composite import ImageWithColourEncoder, TurnTextEncoder, turn_text
from rewardmodel.evaluation import item_in_eval
from rewardmodel.features import FeatureCache, cache_feature_loader, featurize
from rewardmodel.item_training import (
    ItemTrainConfig,
    item_pairs_from_scores,
    train_item_reward_head,
)
from rewardmodel.scoring import score_refs
from tests.stats import auc_chance_bound, chance_bound


def test_record_turns_and_aggregation() -> None:
    record = {
        "id": "x",
        "image": "x.png",
        "conversations": [
            {"from": "human", "value": "<image>\nWhat colour?"},
            {"from": "gpt", "value": "Red."},
            {"from": "human", "value": "Which shape?"},
            {"from": "gpt", "value": ["A circle.", "A square."], "score": [0.9, 0.1]},
        ],
    }
    specs = record_turns(record)
    assert [(s.turn, s.candidate, s.score) for s in specs] == [
        (0, None, None),
        (1, 0, 0.9),
        (1, 1, 0.1),
    ]
    assert specs[0].text == turn_text("What colour?", "Red.")
    # min over turns, best candidate for the candidate turn
    assert aggregate_item_scores(specs, [0.5, 0.2, 0.8]) == {"x": 0.5}
    assert aggregate_item_scores(specs, [0.9, 0.2, 0.3]) == {"x": 0.3}


# Big enough that item-level accuracy clears what chance reaches with p < 0.001 (at 300 items
# it measured 0.56 on ~90 held-out items, within chance). About a minute of CPU on two cores:
# it runs in the integration stage (`make test-integration`), though it needs no service.
DEMO_ITEMS = 1000


@pytest.mark.slow
@pytest.mark.integration
def test_training_on_noisy_demo_judgments_beats_chance(tmp_path: Path) -> None:
    torch.set_num_threads(2)
    corpus = build_demo_corpus(tmp_path / "demo", n_items=DEMO_ITEMS, seed=3)
    records = json.loads(corpus.corpus_path.read_text())
    truth = load_ground_truth(corpus.ground_truth_path)
    judgments = simulate_judgments(corpus.ground_truth_path, n_annotators=3, seed=3)
    specs, examples = records_turn_examples(records, corpus.images_dir)
    # colour statistics alone keep the test fast; the text side is the real default encoder
    # the feature layout is pinned like the hyperparameters below (the last-sentence block
    # pays off with more data than this test can afford: see docs/benchmarks.md)
    text_encoder = TurnTextEncoder(default_text_encoder("cpu"), last_sentence=False)
    image_encoder = ImageWithColourEncoder(None)
    cache = FeatureCache(tmp_path / "features")
    refs = featurize(examples, text_encoder, image_encoder, cache, batch_size=64)

    ids = [str(r["id"]) for r in records]
    held_out = {i for i in ids if item_in_eval(i, 0.3, 77)}
    rows: dict[str, list[int]] = defaultdict(list)
    for n, spec in enumerate(specs):
        rows[spec.item_id].append(n)
    score = {i: np.mean([judgments[(i, k)].rating + 2 * judgments[(i, k)].faithful
                         for k in range(3)]) for i in ids}  # fmt: skip
    sides, pairs = {}, []
    for i in ids:
        if i in held_out:
            continue
        sides[i] = [refs[n] for n in rows[i] if specs[n].candidate is None]
        cands = [n for n in rows[i] if specs[n].candidate is not None]
        if cands:
            values = [float(specs[n].score or 0.0) for n in cands]
            sides[i].append(refs[cands[int(np.argmax(values))]])
            pairs += candidate_pairs(i, [refs[n] for n in cands], values, min_gap=0.3)
    item_pairs = item_pairs_from_scores({i: score[i] for i in sides}, min_gap=2.0, seed=3)
    assert all(set(p.items).isdisjoint(held_out) for p in pairs)
    assert all({p.chosen, p.rejected}.isdisjoint(held_out) for p in item_pairs)

    load = cache_feature_loader(
        cache, text_encoder_id=text_encoder.encoder_id, image_encoder_id=image_encoder.encoder_id
    )
    # the best weights on a validation split of the training items (never the held-out ones);
    # pinned hyperparameters, so a change of the library defaults does not move the figures
    config = ItemTrainConfig(
        lr=1e-3,
        temperature=0.1,
        epochs=40,
        hidden=32,
        dropout=0.5,
        weight_decay=0.05,
        seed=3,
        eval_fraction=0.1,
        patience=None,
        candidate_weight=2.0,
    )
    result = train_item_reward_head(sides, item_pairs, load, turn_pairs=pairs, config=config)
    turn_reward = score_refs(result.head, refs, load).overall
    reward = aggregate_item_scores(specs, turn_reward)
    clean = [reward[i] for i in held_out if truth[i]["clean"]]
    dirty = [reward[i] for i in held_out if not truth[i]["clean"]]
    item_accuracy = float(np.mean([c > d for c in clean for d in dirty]))
    # candidates of one held-out item whose true quality differs: the sharpest signal
    hits = []
    for i in held_out:
        quality = truth[i].get("candidates", {}).get("quality")
        if not quality:
            continue
        by_cand = {
            specs[n].candidate: turn_reward[n] for n in rows[i] if specs[n].candidate is not None
        }
        hits += [by_cand[a] > by_cand[b] for a in range(len(quality))
                 for b in range(len(quality)) if quality[a] > quality[b]]  # fmt: skip
    candidate_accuracy = float(np.mean(hits))
    # Chance is 0.5 for both; the bars are what a model that learned nothing exceeds with
    # p < 0.001 on this held-out set (items: ~300, about 0.61; candidate pairs: ~385, about
    # 0.58). Measured at 1,000 items over corpus seeds 3 / 4 / 5: items 0.745 / 0.794 / 0.740,
    # candidates 0.764 / 0.764 / 0.693 (at 300 items: 0.56 and 0.69).
    assert candidate_accuracy > chance_bound(len(hits)), candidate_accuracy
    assert item_accuracy > auc_chance_bound(len(clean), len(dirty)), item_accuracy


def test_turn_statistics_and_colour_histogram() -> None:
    from PIL import Image

    from rewardmodel.encoders.composite import colour_histogram, split_turn_text, turn_statistics

    assert split_turn_text(turn_text("<image>\nWhat is it?", "A cat.")) == ("What is it?", "A cat.")
    full = turn_statistics("What is it?", "It is a red circle.")
    cut = turn_statistics("What is it?", "It is a red")
    assert full[0] == 1.0 and cut[0] == 0.0
    assert turn_statistics("is the the shape the the red", "x")[4] > 0
    hist = colour_histogram(Image.new("RGB", (32, 32), (250, 10, 10)))
    assert hist.shape == (64,) and np.isclose(np.linalg.norm(hist), 1.0) and hist.max() == 1.0
