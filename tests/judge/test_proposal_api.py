"""Precondition proposals through the API: off without a configured LLM, a job whose result is
the proposal (or none), the request never naming a model, nothing saved to the constitution, a
cap on a person's unfinished proposals, and the job's contract in the OpenAPI document."""

from __future__ import annotations

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from annotation.models import Constitution
from annotation.services.projects import project_create
from core.models import Job
from core.services.jobs import job_cancel, job_run
from curation.services.judge_proposals import MAX_IN_FLIGHT_PER_USER, judge_proposal_execute
from tests.factories import CorpusFactory, StaffFactory
from tests.tiny_models import tiny_causal_lm

pytestmark = pytest.mark.django_db

RULE = {"text": "No weapon may be pointed at a person.", "objectified": "A weapon is aimed."}


@pytest.fixture(autouse=True)
def _quiet_heartbeat(settings):
    settings.ARBITER_JOB_HEARTBEAT_S = 3600.0


@pytest.fixture(scope="module")
def tiny_lm_dir(tmp_path_factory):
    return tiny_causal_lm(tmp_path_factory.mktemp("helper-lm-api"))


@pytest.fixture
def owner_client():
    owner = StaffFactory(username="proposer")
    project = project_create(name="p", corpora=[CorpusFactory()], created_by=owner)
    client = APIClient()
    client.force_authenticate(owner)
    return project, client


def test_off_without_a_configured_llm(settings, owner_client):
    settings.ARBITER_JUDGE_HELPER_LLM = ""
    project, client = owner_client
    url = f"/api/v1/projects/{project.pk}/judge-proposals/"
    assert client.get(url).json()["llm"] is None
    answer = client.post(url, RULE, format="json")
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "helper_llm_off"


def test_a_proposal_is_a_job_whose_result_the_editor_polls(
    settings, owner_client, tiny_lm_dir, django_capture_on_commit_callbacks
):
    settings.ARBITER_JUDGE_HELPER_LLM = str(tiny_lm_dir)
    project, client = owner_client
    versions = Constitution.objects.filter(project=project).count()
    url = f"/api/v1/projects/{project.pk}/judge-proposals/"
    assert client.get(url).json()["llm"] == str(tiny_lm_dir)
    # a model named in the request is not a field: the configured one is used
    with django_capture_on_commit_callbacks(execute=False) as dispatched:
        answer = client.post(url, {**RULE, "llm": "/etc"}, format="json")
    assert answer.status_code == 202, answer.json()
    assert len(dispatched) == 1
    job_id = answer.json()["id"]
    assert answer.json()["kind"] == "judge_proposal" and answer.json()["status"] == "queued"
    job = job_run(job_id, lambda job: judge_proposal_execute(job=job))
    assert job.status == Job.Status.SUCCEEDED, job.error

    polled = client.get(f"/api/v1/jobs/{job_id}/").json()
    result = polled["result"]
    assert result["llm"] == str(tiny_lm_dir)
    # a random-initialised LM writes garbage: a clean "no proposal" with its reason
    assert result["proposal"] is None and result["reason"]
    assert polled["progress"]["fraction"] == 1.0
    # nothing saved: the proposal lives in the job until a person accepts and saves
    assert Constitution.objects.filter(project=project).count() == versions


def test_a_cancelled_proposal_ends_cancelled_without_a_result(
    settings, owner_client, tiny_lm_dir, django_capture_on_commit_callbacks
):
    settings.ARBITER_JUDGE_HELPER_LLM = str(tiny_lm_dir)
    project, client = owner_client
    with django_capture_on_commit_callbacks(execute=False):
        answer = client.post(f"/api/v1/projects/{project.pk}/judge-proposals/", RULE, format="json")
    job_id = answer.json()["id"]
    # the person pressed Stop while a live worker held the job
    Job.objects.filter(pk=job_id).update(status=Job.Status.RUNNING, heartbeat_at=timezone.now())
    assert job_cancel(job=Job.objects.get(pk=job_id)).status == Job.Status.RUNNING
    job = job_run(job_id, lambda job: judge_proposal_execute(job=job))
    assert job.status == Job.Status.CANCELLED
    assert not job.result


def test_bounds_and_a_cap_on_unfinished_proposals(
    settings, owner_client, tiny_lm_dir, django_capture_on_commit_callbacks
):
    settings.ARBITER_JUDGE_HELPER_LLM = str(tiny_lm_dir)
    project, client = owner_client
    url = f"/api/v1/projects/{project.pk}/judge-proposals/"
    assert client.post(url, {"text": "x" * 1001}, format="json").status_code == 400
    empty = client.post(url, {"text": " ", "objectified": ""}, format="json")
    assert empty.status_code == 400 and empty.json()["error"]["code"] == "invalid_rule"
    with django_capture_on_commit_callbacks(execute=False):
        for _ in range(MAX_IN_FLIGHT_PER_USER):
            assert client.post(url, RULE, format="json").status_code == 202
        refused = client.post(url, RULE, format="json")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "too_many_proposals"


def test_an_unloadable_llm_fails_the_job_with_a_clear_error(settings, owner_client, tmp_path):
    settings.ARBITER_JUDGE_HELPER_LLM = str(tmp_path / "missing")
    project, client = owner_client
    job_id = client.post(
        f"/api/v1/projects/{project.pk}/judge-proposals/", RULE, format="json"
    ).json()["id"]
    job = job_run(job_id, lambda job: judge_proposal_execute(job=job))
    assert job.status == Job.Status.FAILED
    assert job.error["code"] == "helper_llm_unavailable"


def test_the_openapi_document_describes_the_proposal(owner_client):
    _, client = owner_client
    schema = client.get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/projects/{project_id}/judge-proposals/"]["post"]
    assert operation["operationId"] == "judge_proposal_start"
    assert "proposal" in operation["description"] and "jobs/{id}" in operation["description"]
    assert {"202", "409", "429"} <= set(operation["responses"])


def test_a_proposal_whose_worker_died_is_asked_again(
    settings, owner_client, tiny_lm_dir, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    from core.services.job_liveness import jobs_reap
    from webapp.celery import app

    settings.ARBITER_JUDGE_HELPER_LLM = str(tiny_lm_dir)
    project, client = owner_client
    with django_capture_on_commit_callbacks(execute=False):
        job_id = client.post(
            f"/api/v1/projects/{project.pk}/judge-proposals/", RULE, format="json"
        ).json()["id"]
    # its worker took it and died: a running job whose heartbeat stopped an hour ago
    Job.objects.filter(pk=job_id).update(
        status=Job.Status.RUNNING,
        attempts=1,
        heartbeat_at=timezone.now() - timedelta(hours=1),
        started_at=timezone.now() - timedelta(hours=1),
    )
    app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert jobs_reap() == [job_id]
    finally:
        app.conf.task_always_eager = False
    job = Job.objects.get(pk=job_id)
    assert job.status == Job.Status.SUCCEEDED and job.attempts == 2
    assert job.result["proposal"] is None and job.result["reason"]
