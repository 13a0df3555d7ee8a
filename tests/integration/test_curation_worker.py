"""Training (the default item recipe), scoring and export in a real Celery worker; a SIGKILLed
training run resumes from its checkpoint."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from annotation.services.projects import project_create
from core.models import Job
from curation.models import ItemScore, RewardModelStep
from tests.conftest import wait_for_job
from tests.curation.helpers import candidate_corpus, rate_plain_items, tiny_bert
from tests.factories import StaffFactory
from workers.reward_tasks import worker_pid_key

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def setup(worker, tmp_path):
    staff = StaffFactory()
    project = project_create(name="rm-int", corpora=[candidate_corpus("rm-int")], created_by=staff)
    rate_plain_items(project)
    client = APIClient()
    client.force_authenticate(staff)
    encoder = "turn:text:" + str(tiny_bert(Path(tmp_path) / "bert"))
    return staff, project, client, encoder


def test_killed_worker_run_resumes_from_checkpoint(setup):
    staff, project, client, encoder = setup
    hyper = {
        "text_encoder": encoder,
        "image_encoder": "",
        "hidden": 16,
        "epochs": 150,
        "batch_size": 32,
        "eval_every": 200,
        "checkpoint_every": 100,
        "patience": 0,
        "seed": 5,
    }
    response = client.post(
        f"/api/v1/projects/{project.pk}/reward-models/", {"hyperparameters": hyper}, format="json"
    )
    assert response.status_code == 202, response.json()
    run_id, job_id = response.json()["id"], response.json()["job"]["id"]
    # when: the process training the run dies hard after a few checkpoints
    deadline = time.monotonic() + 120
    while not RewardModelStep.objects.filter(run_id=run_id, step__gte=200).exists():
        assert time.monotonic() < deadline, Job.objects.get(pk=job_id).message
        time.sleep(0.2)
    pid = cache.get(worker_pid_key(run_id))
    os.kill(int(pid), signal.SIGKILL)
    # then: the task is requeued, another worker process takes it and resumes
    job = wait_for_job(job_id, timeout=500)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.attempts >= 2
    assert job.result["resumed_from_step"] >= 200
    assert job.result["steps"] > job.result["resumed_from_step"]
    assert cache.get(worker_pid_key(run_id)) != pid
    steps = list(RewardModelStep.objects.filter(run_id=run_id).values_list("step", flat=True))
    assert steps[-1] == job.result["steps"] and len(steps) == len(set(steps))


def test_train_score_export_in_worker(setup):
    staff, project, client, encoder = setup
    hyper = {
        "text_encoder": encoder,
        "image_encoder": "",
        "hidden": 32,
        "epochs": 20,
        "batch_size": 64,
        "seed": 1,
    }
    run = client.post(
        f"/api/v1/projects/{project.pk}/reward-models/", {"hyperparameters": hyper}, format="json"
    ).json()
    assert wait_for_job(run["job"]["id"], timeout=180).status == Job.Status.SUCCEEDED
    corpus = project.corpora.get()
    scoring = client.post(
        f"/api/v1/reward-models/{run['id']}/scorings/",
        {"corpus_id": corpus.pk, "shard_size": 40},
        format="json",
    ).json()
    job = wait_for_job(scoring["job"]["id"], timeout=180)
    assert job.status == Job.Status.SUCCEEDED, job.message
    assert ItemScore.objects.filter(run_id=run["id"]).count() == corpus.items.count()
    # scored per turn: every candidate item names its best candidate
    rich = ItemScore.objects.filter(run_id=run["id"], item__has_candidates=True)
    assert rich.exists() and all("1" in s.best_candidates for s in rich)
    dataset = client.post(
        f"/api/v1/projects/{project.pk}/curations/",
        {"policy": "top10", "model_run_id": run["id"], "commit": True},
        format="json",
    ).json()
    export = client.post(
        f"/api/v1/datasets/{dataset['id']}/exports/", {"format": "jsonl"}, format="json"
    ).json()
    assert wait_for_job(export["job"]["id"], timeout=120).status == Job.Status.SUCCEEDED
    download = client.get(f"/api/v1/exports/{export['id']}/download/")
    lines = b"".join(download.streaming_content).splitlines()
    assert len(lines) == dataset["n_items"]
