"""Quality experiment: does a head trained on noisy simulated annotations find the clean items?

Builds the demo corpus (hidden ground truth), simulates annotators (15% flips), turns their
ratings into cross-item preference pairs, featurises with the offline default encoders,
trains the default head and reports on held-out items: pairwise accuracy against the ground
truth and against the noisy labels, the annotators' agreement, and the precision of the top
10% by reward vs the base rate. Prints one JSON line.
Usage: .venv/bin/python bench/rm_quality.py [--items 800] [--image-size 128]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from itertools import combinations
from pathlib import Path

import numpy as np

from annotation.demo.builder import build_demo_corpus
from annotation.demo.simulate import load_ground_truth, simulate_judgments
from rewardmodel.encoders import EfficientNetLiteEncoder, default_text_encoder
from rewardmodel.evaluation import item_in_eval
from rewardmodel.features import Example, FeatureCache, cache_feature_loader, featurize
from rewardmodel.pairs import PreferencePair
from rewardmodel.scoring import score_refs
from rewardmodel.training import TrainConfig, train_reward_head


def _record_text(record: dict) -> str:
    parts = []
    for turn in record["conversations"]:
        value = turn["value"]
        if isinstance(value, list):  # candidate-rich turn: the item shows its first candidate
            value = value[0]
        speaker = "Q" if turn["from"] == "human" else "A"
        parts.append(f"{speaker}: {value.replace('<image>', '').strip()}")
    return "\n".join(parts)


def _annotator_score(judgment) -> float:
    return judgment.rating + (1.0 if judgment.faithful else -1.0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=800)
    parser.add_argument("--annotators", type=int, default=3)
    parser.add_argument("--pairs-per-item", type=int, default=12)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as root:
        corpus = build_demo_corpus(Path(root) / "demo", n_items=args.items, seed=args.seed)
        records = json.loads(corpus.corpus_path.read_text())
        truth = load_ground_truth(corpus.ground_truth_path)
        judgments = simulate_judgments(
            corpus.ground_truth_path, n_annotators=args.annotators, flip_rate=0.15, seed=args.seed
        )
        ids = [r["id"] for r in records]
        examples = [Example(_record_text(r), corpus.images_dir / r["image"]) for r in records]
        text_encoder = default_text_encoder("cpu")
        image_encoder = EfficientNetLiteEncoder(image_size=args.image_size, device="cpu")
        cache = FeatureCache(Path(root) / "features")
        refs = featurize(examples, text_encoder, image_encoder, cache, batch_size=32)
        ref_of = dict(zip(ids, refs, strict=True))
        featurized = time.perf_counter()

        config = TrainConfig(eval_fraction=0.25, seed=args.seed, epochs=30, hidden=128,
                             dropout=0.2, weight_decay=5e-2, lr=1e-3)  # fmt: skip
        held_out = {i for i in ids if item_in_eval(i, config.eval_fraction, config.seed)}
        rng = random.Random(args.seed)
        pairs: list[PreferencePair] = []
        for annotator in range(args.annotators):
            score = {i: _annotator_score(judgments[(i, annotator)]) for i in ids}
            for item in ids:
                for other in rng.sample(ids, args.pairs_per_item):
                    if score[item] > score[other] and (item in held_out) == (other in held_out):
                        pairs.append(PreferencePair(item, ref_of[item], ref_of[other],
                                                    source=f"annotator-{annotator}",
                                                    rejected_item_id=other))  # fmt: skip
        load = cache_feature_loader(
            cache,
            text_encoder_id=text_encoder.encoder_id,
            image_encoder_id=image_encoder.encoder_id,
        )
        result = train_reward_head(pairs, load, config=config)
        trained = time.perf_counter()
        rewards = score_refs(result.head, refs, load).overall
    reward = dict(zip(ids, rewards, strict=True))

    test = sorted(held_out)
    clean = [i for i in test if truth[i]["clean"]]
    dirty = [i for i in test if not truth[i]["clean"]]
    truth_acc = float(np.mean([reward[c] > reward[d] for c in clean for d in dirty]))
    noisy_hits = []
    for annotator in range(args.annotators):
        score = {i: _annotator_score(judgments[(i, annotator)]) for i in test}
        for a, b in combinations(test, 2):
            if score[a] != score[b]:
                better, worse = (a, b) if score[a] > score[b] else (b, a)
                noisy_hits.append(reward[better] > reward[worse])
    verdicts = {i: [judgments[(i, k)].rating >= 4 for k in range(args.annotators)] for i in ids}
    agreement = float(np.mean([v[a] == v[b] for v in verdicts.values()
                               for a, b in combinations(range(args.annotators), 2)]))  # fmt: skip
    ranked = sorted(test, key=lambda i: -reward[i])
    top = ranked[: max(1, len(ranked) // 10)]
    print(
        json.dumps(
            {
                "bench": "rm_quality",
                "items": len(ids),
                "held_out_items": len(test),
                "train_pairs": result.train_pairs,
                "pairwise_acc_vs_truth": round(truth_acc, 4),
                "pairwise_acc_vs_noisy_labels": round(float(np.mean(noisy_hits)), 4),
                "annotator_agreement": round(agreement, 4),
                "top10pct_precision_clean": round(
                    float(np.mean([truth[i]["clean"] for i in top])), 4
                ),
                "base_rate_clean": round(len(clean) / len(test), 4),
                "featurize_s": round(featurized - started, 1),
                "train_s": round(trained - featurized, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
