"""Benchmark: score 158k items with cached features through the scoring job (sharded chord).

Features are put in the cache under benchmark encoder ids first (as a finished featurisation
would leave them); the timed part is the scoring job: per shard, read items from the
database, hash their texts, gather cached features, run the head and upsert ItemScore rows.
Shards run in-process (Celery eager) one after another: the figure is for a single process;
with N workers the shards spread over them. PostgreSQL (bench/_db.py).
Usage: .venv/bin/python bench/curation_score_corpus.py [--items 158000] [--shard-size 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=158_000)
    parser.add_argument("--shard-size", type=int, default=20_000)
    args = parser.parse_args()
    os.environ.setdefault("ARBITER_VAR_DIR", "/tmp/arbiter-score-bench")
    from bench._db import machine, setup_django

    setup_django()
    import numpy as np
    from django.conf import settings

    from annotation.services.projects import project_create
    from bench.curation_corpus import synthetic_corpus
    from core.models import Job
    from core.services.jobs import job_create
    from corpora.models import Item
    from curation.models import RewardModelRun
    from curation.services.features import feature_cache
    from curation.services.scoring import scoring_start
    from curation.services.texts import item_text
    from rewardmodel.artifacts import reward_model_save
    from rewardmodel.features import content_key
    from rewardmodel.heads import HeadConfig, RewardHead
    from webapp.celery import app

    app.conf.task_always_eager = True
    corpus = synthetic_corpus(args.items)
    project = project_create(name=f"score-bench-{corpus.name}", corpora=[corpus])
    rng = np.random.default_rng(0)
    cache = feature_cache()
    keys = [
        content_key(item_text(c, None))
        for c in Item.objects.filter(corpus=corpus)
        .values_list("conversations", flat=True)
        .iterator(chunk_size=5000)
    ]
    for start in range(0, len(keys), 20000):
        chunk = keys[start : start + 20000]
        cache.put_many("bench-text", chunk, rng.normal(size=(len(chunk), 384)).astype(np.float32))
    head = RewardHead(HeadConfig(0, 384, criteria=("helpfulness",)))
    job = job_create(kind=Job.Kind.REWARD_MODEL_TRAIN, params={})
    job.status = Job.Status.SUCCEEDED
    job.save(update_fields=["status"])
    run = RewardModelRun.objects.create(
        project=project,
        job=job,
        hyperparameters={},
        text_encoder="cached:bench-text",
        image_encoder="",
        in_progress=False,
        criteria=["helpfulness"],
    )
    path = reward_model_save(
        Path(settings.ARTIFACTS_ROOT) / "bench-model",
        head,
        text_encoder_id="bench-text",
        image_encoder_id=None,
        fingerprint="0" * 64,
    )
    run.artifact_path = str(path.relative_to(settings.ARTIFACTS_ROOT))
    run.save()
    start = time.perf_counter()
    scoring = scoring_start(run=run, corpus=corpus, shard_size=args.shard_size)
    wall = time.perf_counter() - start
    job = Job.objects.get(pk=scoring.job_id)
    print(
        json.dumps(
            {
                "bench": "curation_score_corpus",
                "items": job.result.get("items_scored"),
                "shards": scoring.n_shards,
                "status": job.status,
                "wall_s": round(wall, 2),
                "items_per_s": round(args.items / wall),
                "machine": machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
