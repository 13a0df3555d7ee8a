"""The whole hand-off path of docs/handoff.md, through its own Python walk-through (the block
between the `walkthrough` markers, executed as printed) against a live server, the real
PostgreSQL, Redis and a Celery worker process: import a corpus, annotate it (a simulated
annotator submitting through the API), train a reward model, score a second corpus that is in
no project, curate over that scoring, export TRL pairs and Parquet-with-images to an
S3-compatible server on loopback, and receive the signed webhooks on the way."""

from __future__ import annotations

import io
import json
import random
import re
import time
import zipfile
from pathlib import Path

import boto3
import pytest
from django.contrib.auth import get_user_model
from PIL import Image

from core.models import WebhookDelivery
from tests.core.test_webhooks import Receiver, _snippet
from tests.curation.helpers import BAD, GOOD, tiny_bert

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

HANDOFF = Path(__file__).resolve().parents[2] / "docs" / "handoff.md"
QUESTION = "<image>\nwhat is on the mat ?"
EVENTS = ["curation.committed", "export.ready", "export.ready", "reward_model.trained"]
COLOURS = {"red.png": (200, 30, 30), "green.png": (30, 200, 30), "blue.png": (30, 30, 200)}


def _walkthrough() -> dict:
    """docs/handoff.md's Python walk-through, exactly as printed."""
    block = re.search(
        r"<!-- walkthrough:start -->\n```python\n(.*?)```\n<!-- walkthrough:end -->",
        HANDOFF.read_text(),
        re.S,
    )
    assert block, "docs/handoff.md lost its Python walk-through"
    namespace: dict = {}
    # padded so that a traceback names the doc's own line numbers
    code = "\n" * block.string.count("\n", 0, block.start(1)) + block.group(1)
    exec(compile(code, str(HANDOFF), "exec"), namespace)
    return {name: _timed(name, value) for name, value in namespace.items()}


def _timed(name: str, value):
    """Each step prints how long it took (shown when the test fails, or with -s)."""
    if not callable(value) or isinstance(value, type) or name.startswith("_"):
        return value

    def step(*args, **kwargs):
        start = time.monotonic()
        try:
            return value(*args, **kwargs)
        finally:
            print(f"step {name}: {time.monotonic() - start:.1f} s")

    return step


def _files(folder: Path, name: str, records: list[dict]) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / f"{name}.json"
    source.write_text(json.dumps(records))
    archive = folder / f"{name}-images.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for image, colour in COLOURS.items():
            buffer = io.BytesIO()
            Image.new("RGB", (32, 24), colour).save(buffer, "PNG")
            bundle.writestr(image, buffer.getvalue())
    return source, archive


def _plain(rng: random.Random, key: str, good: bool) -> dict:
    return {
        "id": key,
        "image": rng.choice(sorted(COLOURS)),
        "category": "conversation",
        "conversations": [
            {"from": "human", "value": QUESTION},
            {"from": "gpt", "value": rng.choice(GOOD if good else BAD)},
        ],
    }


def _annotated_corpus(rng: random.Random) -> list[dict]:
    """Items with three scored candidate answers (the imported scores are judged pairs) and
    items with one answer, good or bad, for the annotator's rubric."""
    records = []
    for i in range(30):
        goods = [rng.random() < 0.5 for _ in range(3)]
        records.append(
            {
                "id": f"c{i:03d}",
                "image": rng.choice(sorted(COLOURS)),
                "category": "detail",
                "conversations": [
                    {"from": "human", "value": QUESTION},
                    {
                        "from": "gpt",
                        "value": [rng.choice(GOOD if g else BAD) for g in goods],
                        "score": [0.8 if g else 0.2 for g in goods],
                    },
                ],
            }
        )
    records += [_plain(rng, f"p{i:03d}", i % 2 == 0) for i in range(40)]
    return records


def _simulated_annotator(item: dict) -> dict:
    """Rates a good answer (the hidden truth: its words) 4-5 and faithful, a bad one 1-2; ranks
    the good candidates of a candidate turn above the bad ones."""
    answer = item["conversations"][1]["value"]
    answers: list[str] = answer if isinstance(answer, list) else [answer]
    good = sum(a in GOOD for a in answers) * 2 > len(answers)
    rating = 5 if good else 1
    given = {"faithful": good, "no_hallucination": good, "answerable": True}
    given.update(helpfulness=rating, clarity=rating, detail=rating)
    if isinstance(answer, list):
        tiers = [[i for i, a in enumerate(answers) if (a in GOOD) == side] for side in (1, 0)]
        given["best_answer"] = {"turn": 1, "ranking": [t for t in tiers if t]}
    return given


def _wait_delivered(types: list[str], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while sorted(
        WebhookDelivery.objects.filter(status="delivered").values_list("event__type", flat=True)
    ) != sorted(types):
        assert time.monotonic() < deadline, list(
            WebhookDelivery.objects.values("event__type", "status", "attempts")
        )
        time.sleep(0.2)


def test_the_handoff_walkthrough_runs_end_to_end(worker, live_server, settings, tmp_path):
    import datasets

    walk = _walkthrough()
    # given: the web process sees the worker's S3 sink and may call the loopback receiver
    settings.ARBITER_EXPORT_S3 = dict(worker.s3)
    settings.ARBITER_WEBHOOK_URL_ALLOW = ["127.0.0.1"]
    s3 = boto3.client(
        "s3",
        endpoint_url=worker.s3["endpoint_url"],
        region_name=worker.s3["region"],
        aws_access_key_id=worker.s3["access_key_id"],
        aws_secret_access_key=worker.s3["secret_access_key"],
    )
    s3.create_bucket(Bucket=worker.s3["bucket"])
    get_user_model().objects.create_user("alice", password="s3cret-pass", is_staff=True)
    receiver = Receiver(failures=0)
    rng = random.Random(7)
    try:
        api = walk["Arbiter"](live_server.url, "alice", "s3cret-pass")
        secret = walk["webhook_create"](api, receiver.url, [])
        # when: the walk-through, step by step
        corpus_a = walk["corpus_import"](
            api, "instructions", *_files(tmp_path / "a", "instructions", _annotated_corpus(rng))
        )
        held_out = [_plain(rng, f"h{i:03d}", i % 2 == 0) for i in range(60)]
        corpus_b = walk["corpus_import"](
            api, "held-out", *_files(tmp_path / "b", "held-out", held_out)
        )
        project_id = walk["project_create"](api, "instructions", [corpus_a])
        assert walk["annotate"](api, project_id, _simulated_annotator) == 70
        encoder = "turn:text:" + str(tiny_bert(tmp_path / "bert"))
        # a tiny text encoder and the mean colour of the image (no download)
        hyper = {"text_encoder": encoder, "image_encoder": "colour:none", "hidden": 32}
        hyper.update(epochs=20, lr=5e-3, batch_size=64, seed=1)
        run_id = walk["reward_model_train"](api, project_id, hyper)
        scoring_id = walk["corpus_score"](api, run_id, corpus_b)
        scored = list(walk["scores"](api, scoring_id, page_size=25))
        policy = [{"op": "top_fraction", "score": "overall", "fraction": 0.5}]
        preview, dataset = walk["curate"](api, scoring_id, policy, "held-out top half")
        pairs = walk["export"](api, dataset["id"], {"format": "trl_pairs", "sink": "s3"})
        parquet = walk["export"](
            api,
            dataset["id"],
            {"format": "parquet_images", "options": {"scores": True}, "sink": "s3"},
        )
        pair_files = walk["s3_fetch"](s3, pairs, tmp_path / "pairs")
        parquet_files = walk["s3_fetch"](s3, parquet, tmp_path / "parquet")
        _wait_delivered(
            ["curation.committed", "export.ready", "export.ready", "reward_model.trained"]
        )
    finally:
        receiver.close()
    # then: every item of the held-out corpus is scored, best first, and the good answers
    # (never annotated, in no project) score above the bad ones
    by_id = {row["external_id"]: row["score"] for row in scored}
    assert len(scored) == len(by_id) == 60
    assert [row["score"] for row in scored] == sorted(by_id.values(), reverse=True)
    truth = {r["id"]: r["conversations"][1]["value"] in GOOD for r in held_out}
    good = [s for key, s in by_id.items() if truth[key]]
    bad = [s for key, s in by_id.items() if not truth[key]]
    assert sum(good) / len(good) > sum(bad) / len(bad), (good, bad)
    # the curation kept the better half, beside a random baseline of the same size
    assert dataset["n_items"] == preview["selected"]["count"] == 30
    assert len(preview["random_baseline"]["item_ids"]) == 30
    assert dataset["scoring"] == scoring_id and dataset["run"] == run_id
    # the files came back from the bucket byte for byte (s3_fetch compares every sha256) and
    # load with `datasets`
    assert pairs["sink"]["kind"] == parquet["sink"]["kind"] == "s3"
    trl = datasets.load_dataset(
        "parquet", data_files=[str(p) for p in pair_files], split="train",
        cache_dir=str(tmp_path / "hf"),
    )  # fmt: skip
    assert len(trl) == pairs["records"] > 0
    assert {"prompt", "chosen", "rejected", "images"} <= set(trl.column_names)
    row = trl[0]
    assert row["images"][0].size == (32, 24)
    assert row["prompt"][0]["content"][0]["type"] == "image"
    assert row["chosen"][0]["content"][0]["text"] in GOOD
    assert row["rejected"][0]["content"][0]["text"] in BAD
    rows = datasets.load_dataset(
        "parquet", data_files=[str(p) for p in parquet_files if p.suffix == ".parquet"],
        split="train", cache_dir=str(tmp_path / "hf"),
    )  # fmt: skip
    assert len(rows) == parquet["records"] == 30
    # at least 25 of the 30 kept are good answers (a random half: p < 1e-5)
    assert sum(truth[key] for key in rows["id"]) >= 25, rows["id"]
    assert rows[0]["image"].size == (32, 24)
    # the receiver got each event once, signed with the endpoint's secret
    verify = _snippet()
    events = [verify(secret, r["body"], r["headers"]) for r in receiver.accepted()]
    assert sorted(e["type"] for e in events) == EVENTS
    ready = {
        e["data"]["export"]["format"]: e["data"]["export"]
        for e in events
        if e["type"] == "export.ready"
    }
    assert {name: f["sha256"] for name, f in ready["trl_pairs"]["files"].items()} == {
        name: f["sha256"] for name, f in pairs["files"].items()
    }
