"""Job liveness: heartbeats, the reaper (requeue or fail with the reason), cancel of a job
whose worker died, and what the jobs API shows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from core.models import Job
from core.services import jobs as job_services
from core.services.job_liveness import job_heartbeat, jobs_reap
from core.services.jobs import job_cancel, job_create, job_kind_hooks, job_run
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db


def _running(kind: str = Job.Kind.CORPUS_SCORE, *, silent_s: float, attempts: int = 1) -> Job:
    job = job_create(kind=kind, params={})
    seen = timezone.now() - timedelta(seconds=silent_s)
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.RUNNING,
        started_at=seen,
        heartbeat_at=seen,
        worker="w1@host pid 42",
        attempts=attempts,
    )
    return Job.objects.get(pk=job.pk)


@pytest.fixture
def hooks(monkeypatch):
    """A kind that can be requeued, with its calls recorded."""
    calls: dict[str, list[int]] = {"requeue": [], "on_end": []}
    monkeypatch.setitem(
        job_services._HOOKS,
        Job.Kind.CORPUS_SCORE,
        job_services.JobKindHooks(
            requeue=lambda job: calls["requeue"].append(job.pk),
            on_end=lambda job: calls["on_end"].append(job.pk),
        ),
    )
    return calls


def test_every_kind_has_its_hooks_registered():
    assert job_kind_hooks(Job.Kind.REWARD_MODEL_TRAIN).requeue is not None
    assert job_kind_hooks(Job.Kind.CORPUS_SCORE).requeue is not None
    assert job_kind_hooks(Job.Kind.DATASET_EXPORT).requeue is not None
    assert job_kind_hooks(Job.Kind.CORPUS_DELETE).requeue is not None
    assert job_kind_hooks(Job.Kind.CORPUS_FEATURIZE).requeue is not None
    # an import is one transaction that died with its worker: failed, never requeued
    assert job_kind_hooks(Job.Kind.CORPUS_IMPORT).requeue is None
    assert job_kind_hooks(Job.Kind.CORPUS_IMPORT).on_end is not None


def test_job_run_records_the_worker_and_a_heartbeat():
    job = job_create(kind=Job.Kind.CORPUS_IMPORT, params={})

    def body(running: Job) -> dict:
        row = Job.objects.get(pk=running.pk)
        assert row.worker.endswith(" pid " + str(__import__("os").getpid()))
        assert row.heartbeat_at is not None
        return {}

    assert job_run(job.pk, body).status == Job.Status.SUCCEEDED


@pytest.mark.django_db(transaction=True)  # the beat writes from its own thread and connection
def test_heartbeat_thread_keeps_a_long_job_fresh(settings):
    settings.ARBITER_JOB_HEARTBEAT_S = 0.05
    job = _running(silent_s=600)
    with job_heartbeat(job_id=job.pk, worker="w2@host pid 7"):
        __import__("time").sleep(0.3)
    job.refresh_from_db()
    assert job.worker == "w2@host pid 7"
    assert timezone.now() - job.heartbeat_at < timedelta(seconds=5)


def test_a_fresh_job_is_left_alone(hooks, django_capture_on_commit_callbacks):
    job = _running(silent_s=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_reap() == []
    assert Job.objects.get(pk=job.pk).status == Job.Status.RUNNING
    assert hooks == {"requeue": [], "on_end": []}


def test_a_dead_job_is_requeued_until_its_attempts_run_out(
    hooks,
    settings,
    django_capture_on_commit_callbacks,
):
    settings.ARBITER_JOB_MAX_ATTEMPTS = 2
    job = _running(silent_s=120, attempts=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_reap() == [job.pk]
        assert jobs_reap() == []  # idempotent: a requeued job is no longer running
    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED and job.worker == "" and job.heartbeat_at is None
    assert "Worker w1@host pid 42 stopped responding at" in job.message
    assert hooks == {"requeue": [job.pk], "on_end": []}
    # the second attempt dies too: no attempt left, failed with the reason
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.RUNNING,
        attempts=2,
        worker="w1@host pid 42",
        heartbeat_at=timezone.now() - timedelta(hours=1),
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_reap() == [job.pk]
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and job.finished_at is not None
    assert job.error["code"] == "worker_lost"
    assert job.error["message"].startswith("Worker w1@host pid 42 stopped responding at ")
    assert "Gave up after 2 attempts." in job.error["message"]
    assert hooks == {"requeue": [job.pk], "on_end": [job.pk]}


def test_a_job_that_never_beat_is_judged_by_its_start(hooks):
    job = _running(silent_s=120)
    Job.objects.filter(pk=job.pk).update(heartbeat_at=None)
    assert jobs_reap(job_ids=[job.pk]) == [job.pk]


def test_a_late_finish_of_a_reaped_attempt_changes_nothing(hooks):
    job = job_create(kind=Job.Kind.CORPUS_SCORE, params={})

    def body(running: Job) -> dict:
        # the reaper gave up on this worker meanwhile, and the job was started again
        Job.objects.filter(pk=running.pk).update(status=Job.Status.RUNNING, attempts=2)
        return {"late": True}

    job_run(job.pk, body)
    job.refresh_from_db()
    assert job.status == Job.Status.RUNNING and job.result == {}


def test_cancel_of_a_live_running_job_asks_it_to_stop(hooks):
    job = _running(silent_s=1)
    cancelled = job_cancel(job=job)
    assert cancelled.status == Job.Status.RUNNING and cancelled.cancel_requested


def test_cancel_of_a_job_whose_worker_died_ends_it_at_once(
    hooks,
    django_capture_on_commit_callbacks,
):
    job = _running(silent_s=120)
    with django_capture_on_commit_callbacks(execute=True):
        cancelled = job_cancel(job=job)
    assert cancelled.status == Job.Status.CANCELLED and cancelled.finished_at is not None
    assert hooks == {"requeue": [], "on_end": [job.pk]}


def test_a_dead_job_whose_cancel_was_asked_is_cancelled_not_requeued(
    hooks,
    django_capture_on_commit_callbacks,
):
    job = _running(silent_s=120)
    Job.objects.filter(pk=job.pk).update(cancel_requested=True)
    with django_capture_on_commit_callbacks(execute=True):
        jobs_reap()
    assert Job.objects.get(pk=job.pk).status == Job.Status.CANCELLED
    assert hooks["requeue"] == []


def test_the_jobs_api_shows_a_dead_import_failed_with_the_reason(
    django_capture_on_commit_callbacks,
):
    job = _running(Job.Kind.CORPUS_IMPORT, silent_s=120)
    client = APIClient()
    client.force_authenticate(StaffFactory())
    with django_capture_on_commit_callbacks(execute=True):
        body = client.get(f"/api/v1/jobs/{job.pk}/").json()
    assert body["status"] == "failed"
    assert body["error"]["code"] == "worker_lost"
    assert body["error"]["message"].startswith("Worker w1@host pid 42 stopped responding at ")
    # and cancelling a finished job is refused as before
    assert client.post(f"/api/v1/jobs/{job.pk}/cancel/").status_code == 409
