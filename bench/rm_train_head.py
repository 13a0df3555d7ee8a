"""Benchmark: train the default reward head on 10k candidate pairs with cached features.

The item trainer with turn pairs only (no item pairs): each item's sides are its candidates.

Prints one JSON line: wall time of loading features + training, steps, eval accuracy.
Usage: .venv/bin/python bench/rm_train_head.py [--pairs 10000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np

from rewardmodel.features import FeatureCache, FeatureRef, cache_feature_loader, content_key
from rewardmodel.item_training import train_item_reward_head
from rewardmodel.pairs import PreferencePair


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument("--candidates", type=int, default=4)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    per_item = args.candidates * (args.candidates - 1) // 2
    n_items = -(-args.pairs // per_item)
    with tempfile.TemporaryDirectory() as root:
        cache = FeatureCache(root)
        image_keys = [content_key(f"image {i}") for i in range(n_items)]
        images = rng.normal(size=(n_items, 1280)).astype(np.float32)
        cache.put_many("bench-image", image_keys, images)
        text_keys = [content_key(f"text {i}") for i in range(n_items * args.candidates)]
        texts = rng.normal(size=(len(text_keys), 384)).astype(np.float32)
        cache.put_many("bench-text", text_keys, texts)
        direction = rng.normal(size=384)
        pairs = []
        sides: dict[str, list[FeatureRef]] = {}
        for item in range(n_items):
            cands = list(range(item * args.candidates, (item + 1) * args.candidates))
            cands.sort(key=lambda c: -(texts[c] @ direction + images[item, :384] @ texts[c]))
            sides[f"item-{item}"] = [FeatureRef(image_keys[item], text_keys[c]) for c in cands]
            for a in range(len(cands)):
                for b in range(a + 1, len(cands)):
                    pairs.append(
                        PreferencePair(
                            f"item-{item}",
                            FeatureRef(image_keys[item], text_keys[cands[a]]),
                            FeatureRef(image_keys[item], text_keys[cands[b]]),
                        )
                    )
        pairs = pairs[: args.pairs]
        load = cache_feature_loader(
            FeatureCache(root), text_encoder_id="bench-text", image_encoder_id="bench-image"
        )
        start = time.perf_counter()
        result = train_item_reward_head(sides, [], load, turn_pairs=pairs)
        wall = time.perf_counter() - start
    print(
        json.dumps(
            {
                "bench": "rm_train_head",
                "pairs": len(pairs),
                "steps": result.steps,
                "wall_s": round(wall, 2),
                "eval_accuracy": round(result.metrics.get("eval_accuracy", float("nan")), 4),
            }
        )
    )


if __name__ == "__main__":
    main()
