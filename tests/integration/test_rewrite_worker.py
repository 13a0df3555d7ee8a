"""Rewriting end to end: a run started through the REST API, rewritten in a real Celery worker
process by a tiny random-initialised causal LM saved here, and the API showing its progress,
figures and per-turn results.

The test starts a worker of its own with ``ARBITER_REWRITE_LLM`` pointing at the tiny LM. When
the whole suite runs, the session's shared worker listens on the same broker and may take the
task instead (it rewrites with its own LLM setting, SmolLM2 offline by default): the test
checks the mechanics, which are the same whoever took it.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from annotation.services.projects import project_create
from curation.models import DatasetItem, DatasetVersion
from rewrites.models import RewriteRun, RewriteTurn
from tests.factories import CorpusFactory, ItemFactory, StaffFactory
from tests.tiny_models import tiny_causal_lm

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    # the shared worker, if it takes the job, first converts SmolLM2 from its GGUF: minutes on
    # a loaded machine (7.5 min was seen at load 11)
    pytest.mark.timeout(1800),
]

N_ITEMS = 5
SHARD_SIZE = 2


def _own_worker(root: Path, llm: Path) -> tuple[subprocess.Popen, str, Path]:
    """A Celery worker on the suite's broker and database, rewriting with ``llm``."""
    from workers.models import WorkerHeartbeat
    from workers.queues import worker_argv

    db = connection.settings_dict
    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}",
        ARBITER_REWRITE_LLM=str(llm),
        ARBITER_ARTIFACTS_ROOT=str(root / "artifacts"),
        ARBITER_MEDIA_ROOT=str(root / "media"),
        # other tests' jobs run on this database: this worker must not reap them
        ARBITER_JOB_STALE_S="600",
    )
    hostname = f"rewrite-{uuid.uuid4().hex[:6]}@localhost"
    log = root / "worker.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            worker_argv(hostname=hostname, concurrency=1),
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=settings.BASE_DIR,
            start_new_session=True,
        )
    deadline = time.monotonic() + 120
    while not WorkerHeartbeat.objects.filter(hostname=hostname).exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("worker did not start:\n" + log.read_text()[-3000:])
        time.sleep(0.3)
    return process, hostname, log


@pytest.fixture
def rewrite_worker(tmp_path):
    llm = tiny_causal_lm(tmp_path / "tiny-lm")
    process, hostname, log = _own_worker(tmp_path, llm)
    yield hostname, log
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=20)


def _dataset(owner) -> DatasetVersion:
    corpus = CorpusFactory()
    items = [
        ItemFactory(
            corpus=corpus,
            has_candidates=False,
            conversations=[
                {"from": "human", "value": "<image>\nWhat is on the mat?"},
                {"from": "gpt", "value": f"A red cat sat on the mat. It has {n} blue toys."},
                {"from": "human", "value": "Where is the dog?"},
                {"from": "gpt", "value": "The dog is to the left of the cat."},
            ],
        )  # fmt: skip
        for n in range(N_ITEMS)
    ]
    project = project_create(name="rewrite-worker", corpora=[corpus], created_by=owner)
    version = DatasetVersion.objects.create(project=project, number=1, policy=[], n_items=N_ITEMS)
    DatasetItem.objects.bulk_create(DatasetItem(dataset=version, item=i, score=0.5) for i in items)
    return version


def test_a_rewrite_started_through_the_api_runs_in_a_worker(rewrite_worker):
    from workers.models import WorkerHeartbeat

    hostname, log = rewrite_worker
    owner = StaffFactory()
    dataset = _dataset(owner)
    api = APIClient()
    api.force_authenticate(owner)
    base = f"/api/v1/datasets/{dataset.pk}/rewrites/"
    body = {
        "settings": {"max_new_tokens": 4, "batch_size": 3, "granularity": "sentence"},
        "guards": {"similarity": False},  # every word guard and the length guard stay on
        "shard_size": SHARD_SIZE,
    }
    response = api.post(base, body, format="json")
    assert response.status_code == 202, response.json()
    started = response.json()
    assert started["job"]["status"] in ("queued", "running", "succeeded")
    assert started["n_shards"] == 3

    # follow it through the API as a client would
    seen: list[tuple[str, int | None]] = []
    deadline = time.monotonic() + 1700
    while True:
        detail = api.get(f"{base}{started['id']}/").json()
        job = detail["job"]
        seen.append((job["status"], (job.get("progress") or {}).get("current")))
        if job["status"] in ("succeeded", "failed", "cancelled"):
            break
        assert time.monotonic() < deadline, (
            f"no end in time: {seen[-3:]}\n{log.read_text()[-2000:]}"
        )
        time.sleep(0.5)

    assert job["status"] == "succeeded", (job, log.read_text()[-3000:])
    run = RewriteRun.objects.select_related("job").get(pk=started["id"])
    # a live worker process ran it: ours, or the session's shared one when the suite runs
    took = run.job.worker.split(" pid ")[0]
    assert WorkerHeartbeat.objects.filter(hostname=took).exists(), run.job.worker
    assert (detail["n_shards"], detail["shards_done"]) == (3, 3)
    assert job["progress"]["current"] == job["progress"]["total"] == N_ITEMS
    figures = detail["figures"]
    assert figures["turns"] == 2 * N_ITEMS
    assert figures["rewritten"] + figures["flagged"] <= figures["turns"]
    assert figures["mean_nll_original"] is not None

    # the per-turn results, paginated
    turns, url = [], f"{base}{run.pk}/turns/?page_size=4"
    while url:
        page = api.get(url).json()
        turns += page["results"]
        url = page["next"]
    assert len(turns) == 2 * N_ITEMS == RewriteTurn.objects.filter(run=run).count()
    assert len({t["id"] for t in turns}) == len(turns)
    for turn in turns:
        assert turn["original"] and turn["kept"] in ("rewrite", "original") and turn["reason"]
        assert {g["name"] for g in turn["guards"]} >= {"colours", "numbers", "objects", "length"}
        assert turn["final_text"] == (
            turn["rewrite"] if turn["kept"] == "rewrite" else turn["original"]
        )

    # the new version holds exactly those texts, with lineage to the source
    result = DatasetVersion.objects.get(pk=detail["result"])
    assert result.derived_from_id == dataset.pk and result.n_items == N_ITEMS
    assert result.provenance["rewrite"]["settings"]["granularity"] == "sentence"
    finals = {(t["item"], t["turn"]): t["final_text"] for t in turns}
    for member in DatasetItem.objects.filter(dataset=result):
        answers = [m["value"] for m in member.conversations if m["from"] == "gpt"]
        assert answers == [finals[(member.item_id, 0)], finals[(member.item_id, 1)]]
