"""The judge job over a project with tiny random-initialised models (no worker: the job body
runs in-process through core's job machinery), its figures, the review order and the
blind/assisted rule."""

from __future__ import annotations

import pytest
import torch
from django.test import Client
from rest_framework.test import APIClient

from annotation.models import Suggestion
from annotation.selectors.judge_verdicts import judge_human_disagreements
from annotation.services.review import review_next
from core.models import Job
from core.services.jobs import job_cancel, job_run
from curation.models import JudgeRun
from curation.selectors.judge import judge_vs_human
from curation.services.judge import judge_config_clean, judge_run_execute, judge_run_start
from judge.checkpoints import build_clip, build_owlv2, build_vlm
from tests.judge.helpers import safety_project

# real (tiny) models through the job machinery: tens of seconds, kept out of the unit suite
pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture(autouse=True)
def _quiet_heartbeat(settings):
    # SQLite: the heartbeat thread's write would lock the test's database
    settings.ARBITER_JOB_HEARTBEAT_S = 3600.0


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("judge-service")
    return {
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


def _run(project, owner, models, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        run = judge_run_start(project=project, config=models, created_by=owner)
    job = job_run(run.job_id, lambda job: judge_run_execute(run=run, job=job))
    return run, job


def test_judge_run_writes_one_suggestion_per_item_and_rule_and_resumes(
    settings, tmp_path, models, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = str(tmp_path)
    project, owner, truth = safety_project("jsvc", n_items=4)
    run, job = _run(project, owner, models, django_capture_on_commit_callbacks)
    assert job.status == Job.Status.SUCCEEDED, job.error
    rows = Suggestion.objects.filter(judge_run_id=run.pk)
    assert rows.count() == 4 * 2 and job.result["judged"] == 4
    one = rows.first()
    assert one.model_version == f"judge-run-{run.pk}" and one.constitution_id == run.constitution_id
    assert one.value["verdict"] in ("violates", "does_not_violate")
    assert one.trace["config"]["relevance_threshold"] == -1.0 and "relevance" in one.trace
    assert job.result["judge"]["vlm"] == models["vlm"]
    # resume: running the body again judges nothing twice
    run.job.refresh_from_db()
    again = judge_run_execute(run=JudgeRun.objects.get(pk=run.pk), job=run.job)
    assert again["judged"] == 4 and rows.count() == 8

    # the judge against the humans: counts add up, disagreements are exactly the mismatches
    report = judge_vs_human(run=run)
    for rule in report["rules"]:
        c = rule["vs_humans"]["confusion"]
        assert sum(c.values()) == rule["vs_humans"]["n"] == 4 - (rule["rule"] == "no-red")
        assert rule["disagreement_count"] == c["fp"] + c["fn"]
        assert rule["human_human"]["n"] == 4
    red = next(r for r in report["rules"] if r["rule"] == "no-red")
    assert red["human_human"]["agreement"]["value"] == 0.75  # one planted disagreement

    # the reviewer's queue starts with an item where judge and humans disagree
    against = judge_human_disagreements(project=project)
    expected = set()
    for s in rows:
        human = truth[s.item_id][s.rule_key]
        if s.item_id == min(truth) and s.rule_key == "no-red":
            continue  # the planted tie: no majority
        if (s.value["verdict"] == "violates") != human:
            expected.add(s.item_id)
    assert against == expected
    if against:
        assert review_next(project=project)["project_item"].item_id in against
    first = review_next(project=project)
    assert {s["rule"] for s in first["judge"]} == {"no-red", "no-triangle"}

    # annotators see the judge only when the project is assisted
    client = APIClient()
    annotator = project.memberships.filter(role="annotator").first().user
    client.force_authenticate(annotator)
    item_id = next(iter(truth))
    url = f"/api/v1/projects/{project.pk}/items/{item_id}/judge/"
    assert client.get(url).status_code == 403
    project.judge_assist = "assisted"
    project.save()
    body = client.get(url).json()
    assert body["assist"] == "assisted" and len(body["suggestions"]) == 2

    # the page shows the figures
    page = Client()
    page.force_login(owner)
    html = page.get(f"/projects/{project.pk}/judge/").content.decode()
    assert "Cohen&#x27;s kappa" in html or "Cohen's kappa" in html
    assert f"#{run.pk}" in html and "no-triangle" in html


def test_cancel_stops_between_chunks(
    settings, tmp_path, models, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = str(tmp_path)
    project, owner, _ = safety_project("jcan", n_items=2)
    with django_capture_on_commit_callbacks(execute=False):
        run = judge_run_start(project=project, config=models, created_by=owner)

    def body(job):
        job_cancel(job=job)  # a user cancels while the job runs
        return judge_run_execute(run=run, job=job)

    job = job_run(run.job_id, body)
    assert job.status == Job.Status.CANCELLED
    assert not Suggestion.objects.filter(judge_run_id=run.pk).exists()


@pytest.mark.parametrize(
    "config",
    [
        "x",
        {"relevance": "c"},
        {"vlm": "v", "thresholds": {"relevance_threshold": 5}},
        {"vlm": "v", "extra": 1},
        {"vlm": "v" * 501},
    ],
)
def test_bad_configurations_are_refused(config):
    from core.errors import DomainError

    with pytest.raises(DomainError) as caught:
        judge_config_clean(config)
    assert caught.value.code == "invalid_judge_config"


def test_missing_model_fails_the_job_with_a_clear_error(
    settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = str(tmp_path)
    project, owner, _ = safety_project("jmiss", n_items=1)
    with django_capture_on_commit_callbacks(execute=False):
        run = judge_run_start(
            project=project, config={"vlm": str(tmp_path / "nope")}, created_by=owner
        )
    job = job_run(run.job_id, lambda job: judge_run_execute(run=run, job=job))
    assert job.status == Job.Status.FAILED and job.error["code"] == "judge_model_unavailable"
    assert str(tmp_path) not in job.error["message"]


def test_rubric_yes_no_questions_become_suggestions(
    settings, tmp_path, models, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = str(tmp_path)
    project, owner, truth = safety_project("jrub", n_items=1)
    rubric = project.rubric
    rubric.questions = [
        *rubric.questions,
        {
            "key": "faithful",
            "type": "binary",
            "prompt": "Is the answer faithful to the image?",
            "required": False,
            "objective": True,
            "criterion": None,
        },
    ]
    rubric.save()
    with django_capture_on_commit_callbacks(execute=False):
        run = judge_run_start(project=project, config={**models, "rubric": True}, created_by=owner)
    job = job_run(run.job_id, lambda job: judge_run_execute(run=run, job=job))
    assert job.status == Job.Status.SUCCEEDED, job.error
    answer = Suggestion.objects.get(question_key="faithful", item_id=next(iter(truth)))
    assert isinstance(answer.value, bool) and answer.trace["judge_run_id"] == run.pk
    assert {"m", "m_none", "diff", "confidence"} <= set(answer.trace)
    assert answer.value == (answer.trace["diff"] > 0)
