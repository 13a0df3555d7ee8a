"""Benchmark: score a 158k-item corpus end to end from cached features (keys -> scores).

Prints one JSON line with the time to hash the item texts, read the features and score.
Usage: .venv/bin/python bench/rm_score_corpus.py [--items 158000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np

from rewardmodel.features import FeatureCache, FeatureRef, cache_feature_loader, content_key
from rewardmodel.heads import HeadConfig, RewardHead
from rewardmodel.scoring import score_refs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=158_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n_images = args.items // 2  # LLaVA reuses COCO images across records
    with tempfile.TemporaryDirectory() as root:
        cache = FeatureCache(root)
        texts = [f"answer number {i} " * 20 for i in range(args.items)]
        image_keys = [content_key(f"image {i}") for i in range(n_images)]
        for start in range(0, n_images, 20_000):
            chunk = image_keys[start : start + 20_000]
            cache.put_many("img", chunk, rng.normal(size=(len(chunk), 1280)).astype(np.float32))
        for start in range(0, args.items, 20_000):
            chunk = [content_key(t) for t in texts[start : start + 20_000]]
            cache.put_many("txt", chunk, rng.normal(size=(len(chunk), 384)).astype(np.float32))
        head = RewardHead(HeadConfig(1280, 384, criteria=("helpful",), rules=("unsafe",)))

        start = time.perf_counter()
        fresh = FeatureCache(root)  # a new process would start with an empty index
        refs = [
            FeatureRef(image_keys[i % n_images], content_key(text)) for i, text in enumerate(texts)
        ]
        hashed = time.perf_counter()
        load = cache_feature_loader(fresh, text_encoder_id="txt", image_encoder_id="img")
        read_start = time.perf_counter()
        load(refs[:1000])
        per_thousand_ms = (time.perf_counter() - read_start) * 1000
        scores = score_refs(head, refs, load)
        wall = time.perf_counter() - start
    print(
        json.dumps(
            {
                "bench": "rm_score_corpus",
                "items": len(scores),
                "hash_s": round(hashed - start, 2),
                "first_1000_read_ms": round(per_thousand_ms, 1),
                "wall_s": round(wall, 2),
                "items_per_s": round(len(scores) / wall),
            }
        )
    )


if __name__ == "__main__":
    main()
