"""A training job's progress says what it is doing: featurising n/N, steps of at most the
planned total, and where early stopping really ended it."""

from __future__ import annotations

import pytest

from core.models import Job
from curation.services import reward_models
from curation.services.reward_models import _duration, _PhaseClock, reward_model_run_start

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def _train(project, staff, hyper, capture, monkeypatch) -> tuple[Job, list[dict]]:
    reports: list[dict] = []
    real = reward_models.job_progress

    def recording(**kwargs) -> None:
        reports.append(kwargs)
        real(**kwargs)

    monkeypatch.setattr(reward_models, "job_progress", recording)
    with capture(execute=True):
        run = reward_model_run_start(project=project, user=staff, hyperparameters=hyper)
    job = Job.objects.get(pk=run.job_id)
    assert job.status == Job.Status.SUCCEEDED, job.error
    return job, reports


def test_featurising_reports_n_of_n_then_steps_of_at_most_the_total(
    project, staff, small_hyper, eager, django_capture_on_commit_callbacks, monkeypatch
):
    job, reports = _train(
        project, staff, small_hyper, django_capture_on_commit_callbacks, monkeypatch
    )
    featurising = [r for r in reports if r["message"].startswith("Featurising ")]
    # the first run finds nothing cached: it counts every example it encodes, up to N/N
    assert featurising, [r["message"] for r in reports]
    total = featurising[-1]["total"]
    assert total > 0 and featurising[-1]["current"] == total
    assert featurising[0]["current"] == 0
    assert [r["current"] for r in featurising] == sorted(r["current"] for r in featurising)
    steps = [r for r in reports if r["message"].startswith("Step ")]
    assert steps and all(r["total"] == 120 for r in steps)
    assert "of at most 120" in steps[-1]["message"]
    # patience 0: no early stop; the bar ends at the step reached and the result says so
    assert job.result["steps"] == 120 and job.result["max_steps"] == 120
    assert job.result["stopped_early"] is False
    assert (job.progress_current, job.progress_total) == (120, 120)


def test_early_stopping_shows_its_real_end(
    project, staff, small_hyper, eager, django_capture_on_commit_callbacks, monkeypatch
):
    # given: validation every step, stop after 2 without a gain, a budget it can't use up
    hyper = {**small_hyper, "epochs": 400, "eval_every": 1, "patience": 2, "lr": 5e-2}
    job, reports = _train(project, staff, hyper, django_capture_on_commit_callbacks, monkeypatch)
    # then: the job ends at the step it stopped at, not at the planned total
    planned = job.result["max_steps"]
    assert job.result["stopped_early"] is True
    assert job.result["steps"] < planned
    assert (job.progress_current, job.progress_total) == (job.result["steps"],) * 2
    end = f"Stopped early at step {job.result['steps']} of at most {planned}"
    assert reports[-1]["message"].startswith(end)


def test_phase_clock_estimates_from_the_phase_rate(monkeypatch) -> None:
    now = [100.0]
    monkeypatch.setattr(reward_models.time, "monotonic", lambda: now[0])
    clock = _PhaseClock()
    assert clock.eta("steps", 0, 100) == ""  # no rate yet
    now[0] = 110.0
    assert clock.eta("steps", 10, 100) == ", about 90 s left"  # 1 step/s, 90 left
    now[0] = 120.0
    assert clock.eta("steps", 20, 100) == ", about 80 s left"
    assert clock.eta("steps", 100, 100) == ""
    assert _duration(600) == "10 min" and _duration(7200) == "2.0 h"
