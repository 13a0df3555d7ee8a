"""Benchmark: bare encoder forward throughput vs the full featurisation pipeline, in one run.

The bare figure times only ``forward`` on inputs prepared beforehand (the model alone). The
pipeline figure starts from an empty feature cache and depends on ``--source``:

- ``memory``: ``rewardmodel.features.featurize`` from PNG bytes + texts held in memory (hash,
  decode in a thread pool, tokenise, forward, write the cache), with the offline base encoders;
- ``db``: a demo corpus imported into a SQLite database of its own, then the training job's
  ``item_recipe_inputs`` over every item: the item query, the turn texts, the image files read
  from MEDIA_ROOT, decoding, batching and encoding with the default recipe's encoders
  (``default-turn-text``, ``default-image-colour``). Bare times the same encoders' ``forward``
  on the distinct turn texts and images the pipeline encodes, in the pipeline's batch size.

Prints one JSON line with both figures (items/s) and their ratio.
Usage: .venv/bin/python bench/rm_featurize.py [--source memory|db] [--items 192]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from bench._db import machine  # noqa: E402

# The recipe's encoders and the batch size `curation.services.features.featurize_many` uses.
TEXT_SPEC = "default-turn-text"
IMAGE_SPEC = "default-image-colour"
DB_BATCH = 32


def _interleaved(
    repeats: int, bare: Callable[[], None], pipeline: Callable[[], None]
) -> tuple[list[float], list[float]]:
    # The machine is shared and CPU timings drift, so bare and pipeline runs alternate and
    # every run is kept (the caller reports the best and the spread).
    bare_runs, pipeline_runs = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        bare()
        bare_runs.append(time.perf_counter() - start)
        start = time.perf_counter()
        pipeline()
        pipeline_runs.append(time.perf_counter() - start)
    return bare_runs, pipeline_runs


def _forward_all(encoder: Any, prepared: Sequence[Any]) -> None:
    for batch in prepared:
        encoder.forward(batch)


def _prepare_all(encoder: Any, inputs: Sequence[Any], batch: int) -> list[Any]:
    return [encoder.prepare(inputs[s : s + batch]) for s in range(0, len(inputs), batch)]


def run_memory(args: argparse.Namespace) -> dict[str, Any]:
    import easy_vqa

    from rewardmodel.encoders import EfficientNetLiteEncoder, default_text_encoder
    from rewardmodel.features import Example, FeatureCache, featurize

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
    # warm-up so that one-off allocation costs count in neither figure
    for _ in range(2):
        image_encoder.encode(images[:batch])
        text_encoder.encode(texts[:batch])
    prepared_images = _prepare_all(image_encoder, images, batch)
    prepared_texts = _prepare_all(text_encoder, texts, batch)
    examples = [Example(t, i) for t, i in zip(texts, images, strict=True)]

    def bare() -> None:
        _forward_all(image_encoder, prepared_images)
        _forward_all(text_encoder, prepared_texts)

    def pipeline() -> None:
        with tempfile.TemporaryDirectory() as root:
            refs = featurize(examples, text_encoder, image_encoder, FeatureCache(root), batch)
        assert len(refs) == len(examples)

    bare_runs, pipeline_runs = _interleaved(args.repeats, bare, pipeline)
    return {
        "items": len(examples),
        "encoders": [text_encoder.encoder_id, image_encoder.encoder_id],
        "image_size": args.image_size,
        "bare_runs": bare_runs,
        "pipeline_runs": pipeline_runs,
    }


def run_db(args: argparse.Namespace) -> dict[str, Any]:
    var = Path(tempfile.mkdtemp(prefix="arbiter-featurize-"))
    os.environ["ARBITER_VAR_DIR"] = str(var)
    os.environ["ARBITER_MEDIA_ROOT"] = str(var / "media")
    os.environ["ARBITER_ARTIFACTS_ROOT"] = str(var / "artifacts")
    from bench._db import setup_django

    # SQLite in the temporary folder: no collision with other benches on the shared server.
    setup_django(f"sqlite:///{var}/featurize.sqlite3")
    from django.conf import settings

    from corpora.models import Corpus, Item
    from corpora.services.corpus_import import corpus_import
    from curation.services import features
    from curation.services.item_recipe import item_recipe_inputs
    from curation.services.turns import items_turn_specs
    from demo.corpus import build_demo_corpus
    from rewardmodel.data import Target, TrainingData

    try:
        demo = build_demo_corpus(var / "demo", n_items=args.items, seed=0)
        corpus = Corpus.objects.create(name="featurize")
        corpus_import(corpus=corpus, source=demo.corpus_path, images=demo.images_dir)
        ids = list(Item.objects.filter(corpus=corpus).order_by("pk").values_list("pk", flat=True))
        # One rating per item makes the training job featurise every item of the corpus.
        data = TrainingData(
            targets=[Target(item_id=i, criterion="overall", value=0.5) for i in ids]
        )
        text_encoder = features.encoder_get(TEXT_SPEC)
        image_encoder = features.encoder_get(IMAGE_SPEC)

        # Bare inputs: exactly the distinct texts and images the pipeline encodes.
        _, things = items_turn_specs(list(Item.objects.filter(pk__in=ids).select_related("image")))
        texts = list(dict.fromkeys(t.text for t in things))
        image_files = {t.image_key: t.image_file for t in things if t.image_key is not None}
        media = Path(settings.MEDIA_ROOT)
        images = [(media / f).read_bytes() for f in image_files.values()]
        for _ in range(2):  # warm-up, as in the memory source
            image_encoder.encode(images[:DB_BATCH])
            text_encoder.encode(texts[:DB_BATCH])
        prepared_images = _prepare_all(image_encoder, images, DB_BATCH)
        prepared_texts = _prepare_all(text_encoder, texts, DB_BATCH)

        def bare() -> None:
            _forward_all(text_encoder, prepared_texts)
            _forward_all(image_encoder, prepared_images)

        def pipeline() -> None:
            # An empty cache each time: the cache object is memoised per process, so the
            # memo goes with the folder.
            shutil.rmtree(features.feature_cache_root(), ignore_errors=True)
            features._cache.cache_clear()
            inputs = item_recipe_inputs(
                data, criteria=[], text_encoder=TEXT_SPEC, image_encoder=IMAGE_SPEC
            )
            assert len(inputs.item_sides) == len(ids)

        bare_runs, pipeline_runs = _interleaved(args.repeats, bare, pipeline)
    finally:
        shutil.rmtree(var, ignore_errors=True)
    return {
        "items": len(ids),
        "database": "sqlite (temporary)",
        "encoders": [text_encoder.encoder_id, image_encoder.encoder_id],
        "turn_texts": len(texts),
        "images": len(images),
        "bare_runs": bare_runs,
        "pipeline_runs": pipeline_runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", choices=("memory", "db"), default="memory")
    parser.add_argument("--items", type=int, default=192)
    parser.add_argument("--batch-size", type=int, default=32, help="memory source only")
    parser.add_argument("--image-size", type=int, default=224, help="memory source only")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    result = run_db(args) if args.source == "db" else run_memory(args)
    bare_runs, pipeline_runs = result.pop("bare_runs"), result.pop("pipeline_runs")
    n = result["items"]
    bare, pipeline = min(bare_runs), min(pipeline_runs)
    print(
        json.dumps(
            {
                "bench": "rm_featurize",
                "source": args.source,
                **result,
                "torch_threads": torch.get_num_threads(),
                "bare_items_per_s": round(n / bare, 1),
                "pipeline_items_per_s": round(n / pipeline, 1),
                "pipeline_vs_bare": round(bare / pipeline, 3),
                "bare_items_per_s_runs": [round(n / t, 1) for t in bare_runs],
                "pipeline_items_per_s_runs": [round(n / t, 1) for t in pipeline_runs],
                "machine": machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
