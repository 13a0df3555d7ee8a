"""A training run whose worker died does not block the project's next run (no 409)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from core.models import Job
from curation.models import RewardModelRun
from curation.services.reward_models import reward_model_run_start

pytestmark = pytest.mark.django_db


def _dead(run: RewardModelRun, *, attempts: int) -> None:
    seen = timezone.now() - timedelta(minutes=5)
    Job.objects.filter(pk=run.job_id).update(
        status=Job.Status.RUNNING,
        attempts=attempts,
        started_at=seen,
        heartbeat_at=seen,
        worker="gone@host pid 1",
    )


def test_a_dead_run_out_of_attempts_is_failed_and_the_project_trains_again(
    project,
    staff,
    settings,
    django_capture_on_commit_callbacks,
):
    settings.ARBITER_JOB_MAX_ATTEMPTS = 2
    dead = reward_model_run_start(project=project, user=staff, hyperparameters={"epochs": 1})
    _dead(dead, attempts=2)
    client = APIClient()
    client.force_authenticate(staff)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(
            f"/api/v1/projects/{project.pk}/reward-models/",
            {"hyperparameters": {"epochs": 1}},
            format="json",
        )
    assert response.status_code == 202, response.json()
    job = Job.objects.get(pk=dead.job_id)
    assert job.status == Job.Status.FAILED and job.error["code"] == "worker_lost"
    dead.refresh_from_db()
    assert dead.in_progress is False


def test_a_dead_run_with_attempts_left_is_requeued_and_still_the_one_in_progress(
    project,
    staff,
    django_capture_on_commit_callbacks,
):
    dead = reward_model_run_start(project=project, user=staff, hyperparameters={"epochs": 1})
    _dead(dead, attempts=1)
    client = APIClient()
    client.force_authenticate(staff)
    with django_capture_on_commit_callbacks(execute=False):
        listed = client.get(f"/api/v1/projects/{project.pk}/reward-models/").json()
        again = client.post(
            f"/api/v1/projects/{project.pk}/reward-models/",
            {"hyperparameters": {"epochs": 1}},
            format="json",
        )
    assert listed[0]["job"]["status"] == "queued"
    assert "stopped responding" in listed[0]["job"]["progress"]["message"]
    assert again.status_code == 409 and again.json()["error"]["details"]["run_id"] == dead.pk
