"""The fault suite: `kill -9` of the Celery worker during an import, a training run, a scoring
run and an export. A replacement worker is started; every job ends within 2 minutes, finished
from its checkpoint or failed with the reason; no orphan rows or files are left.

Each kill happens at a chosen point: the test holds a row lock the job needs, waits until the
worker is blocked on it (inside the job's transaction, heart-beating), then kills the worker.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from annotation.models import Project
from core.models import Job
from corpora.models import Corpus, CorpusImage, ImageAsset, Item
from curation.models import (
    ActiveRewardModel,
    Export,
    ItemScore,
    RewardModelRun,
    RewardModelStep,
    ScoringShard,
)
from tests.corpora.llava import record, write_images
from tests.curation.colour_world import colour_project
from tests.curation.helpers import candidate_corpus, rate_plain_items, tiny_bert
from tests.factories import StaffFactory
from tests.integration.cluster import (
    Cluster,
    broker_swapped,
    fault_broker_url,
    fault_cache,
    row_locked,
    step_held,
    wait_until,
    waiting_on_lock,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ENDS_WITHIN_S = 120


@pytest.fixture
def cluster(tmp_path, settings):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the fault suite needs PostgreSQL and Redis (make test-integration)")
    broker = fault_broker_url()
    nodes = Cluster(root=tmp_path / "cluster", broker=broker)
    settings.MEDIA_ROOT = nodes.media_root
    settings.ARTIFACTS_ROOT = nodes.artifacts_root
    settings.ARBITER_JOB_STALE_S = 8
    settings.CACHES = fault_cache(broker)
    with broker_swapped(broker):
        try:
            yield nodes
        finally:
            nodes.stop_all()


def _staff_client() -> APIClient:
    client = APIClient()
    client.force_authenticate(StaffFactory())
    return client


def _wait_ended(client: APIClient, job_id: int, since: float) -> dict:
    """Poll the job as a user would (the jobs API); it must end within the bound."""

    def ended() -> dict | None:
        body = client.get(f"/api/v1/jobs/{job_id}/").json()
        return body if body["status"] in {"succeeded", "failed", "cancelled"} else None

    body = wait_until(ended, timeout=ENDS_WITHIN_S, what=f"job {job_id} to end", poll=0.5)
    assert time.monotonic() - since < ENDS_WITHIN_S
    return body


def _blocked_worker(cluster: Cluster) -> str:
    names = wait_until(waiting_on_lock, timeout=120, what="a worker blocked on the held row")
    return names[0].removeprefix("arbiter-")


def test_import_killed_fails_with_the_reason_and_leaves_nothing(cluster, tmp_path):
    client = _staff_client()
    images = write_images(tmp_path / "images", {f"{k}.png": (k, 2 * k, 3) for k in range(20)})
    records = [record(str(k), image=f"{k % 20}.png") for k in range(200)]
    # given: the UI's flow: a new corpus, then the upload (starting an import locks the corpus
    # row itself, so it is queued before the test holds that row and starts the worker)
    corpus_id = client.post("/api/v1/corpora/", {"name": "killed"}, format="json").json()["id"]
    upload = io.BytesIO(json.dumps(records).encode())
    upload.name = "items.json"
    response = client.post(
        f"/api/v1/corpora/{corpus_id}/imports/",
        {"file": upload, "images_path": str(images)},
        format="multipart",
    )
    assert response.status_code == 202, response.json()
    job_id = response.json()["id"]
    with row_locked("annotation_corpus", corpus_id):
        first = cluster.start("import-a")
        # when: the worker is inside the import (items written, waiting on the corpus row)
        assert _blocked_worker(cluster) == "import-a"
        first.kill()
        killed_at = time.monotonic()
    cluster.start("import-b")
    # then: failed with the reason, within the bound
    body = _wait_ended(client, job_id, killed_at)
    assert body["status"] == "failed"
    assert body["error"]["code"] == "worker_lost"
    assert body["error"]["message"].startswith(f"Worker {first.hostname} pid ")
    assert "stopped responding at" in body["error"]["message"]
    # no orphan rows: the transaction died with the worker; the corpus made for it is gone
    # (the end hook runs once the failure has committed, so a client may see "failed" first)
    deadline = time.monotonic() + 30
    while Corpus.objects.filter(pk=corpus_id).exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not Corpus.objects.filter(pk=corpus_id).exists()
    assert not Item.objects.exists() and not CorpusImage.objects.exists()
    # no orphan files: the upload is deleted, every stored image file has its row
    uploads = cluster.artifacts_root / "uploads"
    assert not uploads.exists() or not any(uploads.iterdir())
    stored = [p for p in (cluster.media_root / "images").rglob("*") if p.is_file()]
    known = set(ImageAsset.objects.values_list("sha256", flat=True))
    assert [p for p in stored if p.name.split(".")[0] not in known] == []


def test_training_scoring_and_export_killed_finish_after_a_restart(cluster, tmp_path):
    """One project through the three kinds that resume: each phase kills the worker that runs
    the job and starts a replacement; each job finishes from where it was."""
    staff = StaffFactory()
    client = APIClient()
    client.force_authenticate(staff)
    from annotation.services.projects import project_create

    project = project_create(name="faults", corpora=[candidate_corpus("faults")], created_by=staff)
    rate_plain_items(project)
    corpus = project.corpora.get()
    encoder = "turn:text:" + str(tiny_bert(Path(tmp_path) / "bert"))
    worker = cluster.start("train-a")

    # --- training: killed after its first checkpoints, resumed from the last one ---------------
    hyper = {
        "text_encoder": encoder,
        "image_encoder": "",
        "hidden": 16,
        "epochs": 60,
        "batch_size": 32,
        "eval_every": 1000,
        "checkpoint_every": 20,
        "patience": 0,
        "seed": 5,
    }
    response = client.post(
        f"/api/v1/projects/{project.pk}/reward-models/", {"hyperparameters": hyper}, format="json"
    )
    assert response.status_code == 202, response.json()
    run_id, job_id = response.json()["id"], response.json()["job"]["id"]
    wait_until(
        lambda: RewardModelStep.objects.filter(run_id=run_id, step__gte=45).exists(),
        timeout=180,
        what="training past its second checkpoint",
        poll=0.1,
    )
    worker.kill()
    killed_at = time.monotonic()
    # while it is dead the project is busy with the run (it will resume), not blocked forever
    worker = cluster.start("train-b")
    body = _wait_ended(client, job_id, killed_at)
    assert body["status"] == "succeeded", body
    assert body["attempts"] == 2
    assert body["result"]["resumed_from_step"] >= 40
    steps = list(RewardModelStep.objects.filter(run_id=run_id).values_list("step", flat=True))
    assert steps[-1] == body["result"]["steps"] and len(steps) == len(set(steps))
    assert RewardModelRun.objects.get(pk=run_id).in_progress is False

    # --- scoring: killed inside a shard, the shards left are sent again -----------------------
    response = client.post(
        f"/api/v1/reward-models/{run_id}/scorings/",
        {"corpus_id": corpus.pk, "shard_size": 30},
        format="json",
    )
    assert response.status_code == 202, response.json()
    scoring_id, job_id = response.json()["id"], response.json()["job"]["id"]
    held = ScoringShard.objects.get(scoring_id=scoring_id, index=2)
    with row_locked("curation_scoringshard", held.pk):
        assert _blocked_worker(cluster) == "train-b"
        worker.kill()
        killed_at = time.monotonic()
    worker = cluster.start("score-c")
    body = _wait_ended(client, job_id, killed_at)
    assert body["status"] == "succeeded", body
    assert not ScoringShard.objects.filter(scoring_id=scoring_id, done=False).exists()
    assert ItemScore.objects.filter(run_id=run_id).count() == corpus.items.count()
    assert body["result"]["items_scored"] == corpus.items.count()

    # --- export: killed before it recorded its files, written again whole ---------------------
    client.post(f"/api/v1/reward-models/{run_id}/promote/")
    dataset = client.post(
        f"/api/v1/projects/{project.pk}/curations/",
        {"policy": "top10", "model_run_id": run_id, "commit": True},
        format="json",
    ).json()
    response = client.post(
        f"/api/v1/datasets/{dataset['id']}/exports/", {"format": "jsonl"}, format="json"
    )
    assert response.status_code == 202, response.json()
    export_id, job_id = response.json()["id"], response.json()["job"]["id"]
    with row_locked("curation_export", export_id):
        assert _blocked_worker(cluster) == "score-c"
        worker.kill()
        killed_at = time.monotonic()
    cluster.start("export-d")
    body = _wait_ended(client, job_id, killed_at)
    assert body["status"] == "succeeded", body
    export = Export.objects.get(pk=export_id)
    folder = cluster.artifacts_root / export.path
    assert sorted(p.name for p in folder.iterdir()) == ["data.jsonl", "manifest.json"]
    download = client.get(f"/api/v1/exports/{export_id}/download/")
    assert len(b"".join(download.streaming_content).splitlines()) == dataset["n_items"]
    # every job of the project ended; none is left running or queued
    assert not Job.objects.exclude(status__in=["succeeded", "failed", "cancelled"]).exists()


# --- the VLM recipe: killed past a checkpoint, resumed from its adapter + head --------------------
VLM_HYPER = {
    "trainer": "vlm", "steps": 10, "batch_size": 4, "micro_batch_size": 4, "lora_r": 4,
    "lr": 1e-2, "eval_every": 2, "checkpoint_every": 2, "eval_fraction": 0.5,
    "max_length": 64, "gradient_checkpointing": False, "seed": 3,
}  # fmt: skip


def _artifacts() -> Path:
    from django.conf import settings

    return Path(settings.ARTIFACTS_ROOT)  # the cluster's: the fixture points the setting there


def _adapter(run_id: int) -> dict:
    from safetensors.torch import load_file

    run = RewardModelRun.objects.get(pk=run_id)
    return load_file(str(_artifacts() / run.artifact_path / "adapter.safetensors"))


def _curve(run_id: int) -> list[tuple[int, float, float | None]]:
    rows = RewardModelStep.objects.filter(run_id=run_id).order_by("step")
    return list(rows.values_list("step", "loss", "val_accuracy"))


def _vlm_run_start(name: str, tmp_path: Path) -> tuple[APIClient, Project, dict, str, int, int]:
    """A VLM run (tiny random LLaVA saved under `tmp_path`) queued through the API on a new
    colour project: (client, project, hyperparameters, runs URL, run id, job id)."""
    from tests.tiny_vlms import tiny_llava

    client = _staff_client()
    project = colour_project(name, n_items=32)
    hyper = {**VLM_HYPER, "backbone": str(tiny_llava(tmp_path / "tiny-llava"))}
    url = f"/api/v1/projects/{project.pk}/reward-models/"
    response = client.post(url, {"hyperparameters": hyper}, format="json")
    assert response.status_code == 202, response.json()
    return client, project, hyper, url, response.json()["id"], response.json()["job"]["id"]


def test_a_vlm_run_killed_past_a_checkpoint_resumes_from_it_and_ends_as_if_uninterrupted(
    cluster, tmp_path
):
    """A tiny random LLaVA saved to a folder is the backbone; the worker is killed while it
    logs step 6 (checkpoints of steps 2 and 4 written, 6 not yet); the replacement resumes at
    step 4 and the run's adapter, head and curve equal those of an uninterrupted run."""
    import torch

    client, project, hyper, url, run_id, job_id = _vlm_run_start("vlm-faults", tmp_path)
    # when: the worker logs step 6 while this test holds that point; it is killed there
    with step_held(run_id, 6):
        worker = cluster.start("vlm-a")
        assert _blocked_worker(cluster) == "vlm-a"
        checkpoints = _artifacts() / f"reward_models/project-{project.pk}/run-{run_id}/checkpoints"
        assert sorted(p.name for p in checkpoints.glob("step-*.pt")) == [
            "step-00000002.pt", "step-00000004.pt"
        ]  # fmt: skip
        worker.kill()
        killed_at = time.monotonic()
    cluster.start("vlm-b")
    # then: it finished on the replacement, from the checkpoint of step 4, not from step 0
    body = _wait_ended(client, job_id, killed_at)
    assert body["status"] == "succeeded", body
    assert body["attempts"] == 2
    assert body["result"]["resumed_from_step"] == 4
    assert body["result"]["first_logged_step"] == 6  # steps 1-4 were not trained again
    assert body["result"]["steps"] == 10
    assert [s for s, _, _ in _curve(run_id)] == [2, 4, 6, 8, 10]
    run = RewardModelRun.objects.get(pk=run_id)
    assert run.in_progress is False and run.metrics["backbone"] == hyper["backbone"]
    # and: an uninterrupted run on the same data ends with the very same weights and curve
    # (bit-identical resume: the checkpoint holds adapter, head, optimiser, RNG and sampler)
    response = client.post(url, {"hyperparameters": hyper}, format="json")
    assert response.status_code == 202, response.json()
    again_id, again_job = response.json()["id"], response.json()["job"]["id"]
    body = _wait_ended(client, again_job, time.monotonic())
    assert body["status"] == "succeeded" and body["result"]["resumed_from_step"] == 0, body
    assert body["result"]["first_logged_step"] == 2
    resumed, uninterrupted = _adapter(run_id), _adapter(again_id)
    assert resumed.keys() == uninterrupted.keys() and any("lora" in k for k in resumed)
    assert all(torch.equal(resumed[k], uninterrupted[k]) for k in resumed)
    assert _curve(run_id) == _curve(again_id)
    again = RewardModelRun.objects.get(pk=again_id)
    # the same held-out accuracy and read-outs
    assert "eval_accuracy" in run.metrics and "eval_accuracy_by_rule" in run.metrics
    assert run.metrics == again.metrics, (run.metrics, again.metrics)


def test_a_vlm_run_cancelled_mid_training_ends_cancelled_with_no_model_to_promote(
    cluster, tmp_path
):
    """Cancel through the jobs API while the worker is at step 6 of 10 (checkpoints of 2 and
    4 written): the run stops there, ends cancelled, and leaves no model to score or promote."""
    client, project, hyper, url, run_id, job_id = _vlm_run_start("vlm-cancel", tmp_path)
    with step_held(run_id, 6):
        cluster.start("vlm-c")
        assert _blocked_worker(cluster) == "vlm-c"
        # when: the user cancels while it trains (the job is running, its worker alive)
        cancel = client.post(f"/api/v1/jobs/{job_id}/cancel/")
        assert cancel.status_code == 200 and cancel.json()["status"] == "running"
        asked_at = time.monotonic()
    # then: it stops at the step it was logging, well before its 10 steps, and ends cancelled
    body = _wait_ended(client, job_id, asked_at)
    assert body["status"] == "cancelled", body
    assert [s for s, _, _ in _curve(run_id)] == [2, 4, 6]
    run = RewardModelRun.objects.get(pk=run_id)
    assert run.in_progress is False and run.artifact_path == "" and run.metrics == {}
    folder = _artifacts() / f"reward_models/project-{project.pk}/run-{run_id}"
    assert not (folder / "model").exists()  # no partial model written
    # nothing to promote or score with; the project may train again at once
    promote = client.post(f"/api/v1/reward-models/{run_id}/promote/")
    assert promote.status_code == 409 and promote.json()["error"]["code"] == "run_not_ready"
    assert not ActiveRewardModel.objects.filter(project=project).exists()
    scoring = client.post(f"/api/v1/reward-models/{run_id}/scorings/",
                          {"corpus_id": project.corpora.get().pk}, format="json")  # fmt: skip
    assert scoring.status_code == 409, scoring.json()
    again = client.post(url, {"hyperparameters": {**hyper, "steps": 2}}, format="json")
    assert again.status_code == 202, again.json()
    body = _wait_ended(client, again.json()["job"]["id"], time.monotonic())
    assert body["status"] == "succeeded", body
