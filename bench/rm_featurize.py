"""Benchmark: bare encoder forward throughput vs the full featurize pipeline, in one run.

The bare figure times only ``forward`` on inputs prepared beforehand (the model alone); the
pipeline starts from PNG bytes + texts with an empty cache (hash, decode in a thread pool,
tokenise, forward, write the cache). Prints one JSON line with both and their ratio.
Usage: .venv/bin/python bench/rm_featurize.py [--items 192] [--image-size 224]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import easy_vqa
import torch

from rewardmodel.encoders import EfficientNetLiteEncoder, default_text_encoder
from rewardmodel.features import Example, FeatureCache, featurize


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=192)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    paths = list(easy_vqa.get_train_image_paths().values())[: args.items]
    images = [Path(p).read_bytes() for p in paths]
    texts = [
        f"Question {i}: what shape is in the image? Answer: the image shows a coloured shape "
        f"on a white background, and its colour is clearly visible number {i}."
        for i in range(len(images))
    ]
    text_encoder = default_text_encoder("cpu")
    image_encoder = EfficientNetLiteEncoder(image_size=args.image_size, device="cpu")
    batch = args.batch_size
    chunks = range(0, len(images), batch)
    # warm-up so that one-off allocation costs count in neither figure
    for _ in range(2):
        image_encoder.encode(images[:batch])
        text_encoder.encode(texts[:batch])

    prepared_images = [image_encoder.prepare(images[s : s + batch]) for s in chunks]
    prepared_texts = [text_encoder.prepare(texts[s : s + batch]) for s in chunks]
    examples = [Example(t, i) for t, i in zip(texts, images, strict=True)]
    # The machine is shared and CPU timings drift, so bare and pipeline runs are interleaved
    # and the best of each is kept.
    bare_runs, pipeline_runs = [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        for image_batch, text_batch in zip(prepared_images, prepared_texts, strict=True):
            image_encoder.forward(image_batch)
            text_encoder.forward(text_batch)
        bare_runs.append(time.perf_counter() - start)
        with tempfile.TemporaryDirectory() as root:
            start = time.perf_counter()
            refs = featurize(examples, text_encoder, image_encoder, FeatureCache(root), batch)
            pipeline_runs.append(time.perf_counter() - start)
            start = time.perf_counter()
            featurize(examples, text_encoder, image_encoder, FeatureCache(root), batch)
            cached = time.perf_counter() - start
    bare, pipeline = min(bare_runs), min(pipeline_runs)
    assert len(refs) == len(examples)
    print(
        json.dumps(
            {
                "bench": "rm_featurize",
                "items": len(examples),
                "image_size": args.image_size,
                "torch_threads": torch.get_num_threads(),
                "bare_items_per_s": round(len(examples) / bare, 1),
                "pipeline_items_per_s": round(len(examples) / pipeline, 1),
                "pipeline_vs_bare": round(bare / pipeline, 3),
                "cached_rerun_s": round(cached, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
