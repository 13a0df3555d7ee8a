"""Benchmark: items/s of `POST /api/v1/reward-models/{id}/score/` on this machine's CPU.

A reward model with the default encoders (turn text: all-MiniLM-L6-v2; image: EfficientNet-Lite0
with colour features) and an untrained head (weights do not change the cost) serves batches of
16 entries, as an RL trainer would call it: the same 16 images (their features are cached after
the first batch, as a rollout's prompt images are) and fresh answer texts every batch (never
cached). The first (cold) batch, which loads the encoders, is reported apart.
Prints one JSON line. Usage:
  flock /tmp/arbiter-bench.lock .venv/bin/python bench/rm_serve.py [--seconds 20] [--batch 16]
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _image(seed: int) -> str:
    from PIL import Image

    colour = ((seed * 53) % 256, (seed * 97) % 256, (seed * 31) % 256)
    buffer = io.BytesIO()
    Image.new("RGB", (224, 224), colour).save(buffer, format="JPEG")
    return base64.b64encode(buffer.getvalue()).decode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="arbiter-bench-serve-")
    os.environ["ARBITER_ARTIFACTS_ROOT"] = f"{scratch}/artifacts"
    os.environ["ARBITER_MEDIA_ROOT"] = f"{scratch}/media"
    from bench._db import machine, setup_django

    setup_django(f"sqlite:///{scratch}/bench.sqlite3")
    from django.conf import settings
    from rest_framework.test import APIClient

    from annotation.services.projects import project_create
    from core.models import Job
    from corpora.models import Corpus
    from curation.models import RewardModelRun
    from curation.services.features import encoder_get
    from rewardmodel.artifacts import TURN_RECIPE, reward_model_save
    from rewardmodel.heads import HeadConfig, RewardHead
    from tests.factories import StaffFactory

    text_spec, image_spec = "default-turn-text", "default-image-colour"
    text, image = encoder_get(text_spec), encoder_get(image_spec)
    head = RewardHead(HeadConfig(image.dim, text.dim, criteria=("helpfulness",), rules=("gore",)))
    model = reward_model_save(
        Path(settings.ARTIFACTS_ROOT) / "bench",
        head,
        text_encoder_id=text.encoder_id,
        image_encoder_id=image.encoder_id,
        fingerprint="bench",
        recipe=TURN_RECIPE,
    )
    staff = StaffFactory()
    project = project_create(
        name="bench", corpora=[Corpus.objects.create(name="b")], created_by=staff
    )
    run = RewardModelRun.objects.create(
        project=project,
        job=Job.objects.create(kind=Job.Kind.REWARD_MODEL_TRAIN, status=Job.Status.SUCCEEDED),
        hyperparameters={},
        text_encoder=text_spec,
        image_encoder=image_spec,
        in_progress=False,
        artifact_path=str(model.relative_to(settings.ARTIFACTS_ROOT)),
    )
    client = APIClient()
    client.force_authenticate(staff)
    images = [_image(k) for k in range(args.batch)]
    url = f"/api/v1/reward-models/{run.pk}/score/"

    def batch(number: int) -> None:
        entries = [
            {
                "image": {"base64": images[k]},
                "conversations": [
                    {"from": "human", "value": "<image>\nWhat is in the picture?"},
                    {"from": "gpt", "value": f"Rollout {number}-{k}: a plain square of colour."},
                ],
            }
            for k in range(args.batch)
        ]
        response = client.post(url, {"entries": entries}, format="json")
        assert response.status_code == 200, response.content

    started = time.perf_counter()
    batch(0)
    cold = time.perf_counter() - started
    started, done = time.perf_counter(), 0
    while time.perf_counter() - started < args.seconds:
        done += 1
        batch(done)
    wall = time.perf_counter() - started
    print(
        json.dumps(
            {
                "bench": "rm_serve",
                "batch": args.batch,
                "batches": done,
                "items_per_s": round(done * args.batch / wall, 1),
                "ms_per_batch": round(wall / done * 1000, 1),
                "cold_first_batch_s": round(cold, 2),
                "machine": machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
