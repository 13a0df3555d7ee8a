"""The guided path's pages and the data browser in Chromium: promote the finished run and
start scoring from the runs page (the job shows as queued until a worker takes it), see the
scoring state on the curation page, browse and filter the project's items, open an item with
its image, conversation, annotations and scores, and download raw annotations."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from annotation.models import Annotation, ProjectItem, Suggestion
from core.models import Job
from curation.models import ItemScore, JudgeRun, RewardModelRun, ScoringRun
from tests.browser.conftest import login, shot
from tests.browser.data import seed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _finished_run(project) -> RewardModelRun:
    job = Job.objects.create(
        kind=Job.Kind.REWARD_MODEL_TRAIN,
        status=Job.Status.SUCCEEDED,
        result={"steps": 40, "max_steps": 200, "stopped_early": True},
    )
    run = RewardModelRun.objects.create(
        project=project,
        job=job,
        hyperparameters={},
        text_encoder="x",
        in_progress=False,
        artifact_path="unused",
        metrics={"eval_accuracy": 0.71},
    )
    rng = random.Random(0)
    items = [pi.item for pi in project.project_items.select_related("item")]
    ItemScore.objects.bulk_create(
        ItemScore(run=run, item=item, overall=rng.random(), criteria={"helpfulness": 0.5})
        for item in items
    )
    return run


def _judged(project, item_ids: list[int]) -> tuple[JudgeRun, str]:
    """A finished safety-judge run that found the items violating the constitution's first rule."""
    constitution = project.constitutions.order_by("-version").first()
    rule = constitution.rules.order_by("position").first().key
    run = JudgeRun.objects.create(
        project=project,
        constitution=constitution,
        job=Job.objects.create(kind=Job.Kind.SAFETY_JUDGE, status=Job.Status.SUCCEEDED),
        config={"vlm": "x"},
    )
    Suggestion.objects.bulk_create(
        Suggestion(item_id=i, question_key="safety", rule_key=rule, judge_run_id=run.pk,
                   value={"verdict": "violates"}, model_version="x", constitution=constitution)
        for i in item_ids
    )  # fmt: skip
    return run, rule


ENDED_OR_WAITING = ("scoring", "scored", "failed")


def test_path_and_data_browser(page, tmp_path) -> None:
    # given: a project with a finished (not yet promoted) run, one answered item
    data = seed(tmp_path, n_items=12)
    project, owner = data["project"], data["owner"]
    run = _finished_run(project)
    pitem = ProjectItem.objects.filter(project=project).order_by("item_id").first()
    Annotation.objects.create(
        project=project, project_item=pitem, item_id=pitem.item_id, user=data["annotators"][0],
        answers={"helpfulness": 4},
    )  # fmt: skip
    ProjectItem.objects.filter(pk=pitem.pk).update(done_count=1)  # as submit leaves it
    ids = sorted(ProjectItem.objects.filter(project=project).values_list("item_id", flat=True))
    judge_run, rule = _judged(project, [pitem.item_id, ids[-1]])
    login(page, owner.username)

    # when: the runs page offers the path; the run is promoted
    page.goto(f"/projects/{project.pk}/reward-models/")
    status = page.locator(f"#run-status-{run.pk}").inner_text()
    assert "stopped early at step 40 of at most 200" in status
    page.locator("#path-promote").click()
    page.wait_for_selector("#path-promote-step:has-text('Promoted')")
    corpus_row = page.locator(f"#scoring-panel tr[data-corpus='{data['corpus'].pk}']")
    assert corpus_row.get_attribute("data-state") == "unscored"
    assert corpus_row.locator("[data-score-pick]").is_checked()  # the project's corpus

    # when: scoring starts. This test starts no worker, so the job honestly waits in the queue;
    # when an earlier test of the session started the shared worker, that worker may take the
    # job at once (this run has no model files, so it then ends failed): both are honest states
    page.locator("#score-selected").click()
    row_css = f"tr[data-corpus='{data['corpus'].pk}']"
    page.wait_for_selector(", ".join(f"{row_css}[data-state='{s}']" for s in ENDED_OR_WAITING))
    shown = corpus_row.locator("[data-scoring-state]").inner_text()
    job = ScoringRun.objects.get(run=run, corpus=data["corpus"]).job
    if job.status == "queued":
        assert "queued: waiting for a worker" in shown
    assert ScoringRun.objects.filter(run=run, corpus=data["corpus"]).count() == 1
    shot(page, "path-runs")

    # then: the curation page names the promoted model and the corpus's scoring state
    page.goto(f"/projects/{project.pk}/curation/")
    assert f"Model #{run.pk} is promoted" in page.locator("#scored-corpora").inner_text()
    row = page.locator(f"#scored-corpora tr[data-corpus='{data['corpus'].pk}']")
    assert row.get_attribute("data-state") in ENDED_OR_WAITING

    # when: the project's items are browsed, filtered by annotation state
    page.locator("#browse-project").click()
    assert page.locator("#browse-table tbody tr[data-item]").count() == 12
    page.locator("#browse-state").select_option("unannotated")
    page.locator("#browse-apply").click()
    page.wait_for_url("**state=unannotated**")
    assert page.locator("#browse-table tbody tr[data-item]").count() == 11
    page.locator("#browse-state").select_option("complete")  # overlap 1: one answer completes
    page.locator("#browse-apply").click()
    page.wait_for_url("**state=complete**")
    rows = page.locator("#browse-table tbody tr[data-item]")
    assert rows.count() == 1 and rows.first.get_attribute("data-item") == str(pitem.item_id)
    shot(page, "data-browser")

    # when: the filter is the judge's flag on a rule instead: the two items it flagged
    page.locator("#browse-state").select_option("")
    page.locator("#browse-judge").select_option(rule)
    page.locator("#browse-apply").click()
    page.wait_for_url(f"**judge={rule}**")
    flagged = [r.get_attribute("data-item") for r in rows.all()]
    assert flagged == [str(pitem.item_id), str(ids[-1])]
    assert page.locator("#browse-table tbody .badge").count() == 2

    # when: the item is opened: image, conversation, the annotation, the model's score
    rows.first.locator("a").click()
    page.wait_for_url(f"**/items/{pitem.item_id}/")
    page.wait_for_function("() => document.getElementById('item-image').naturalWidth > 0")
    assert page.locator("#item-conversation li").count() >= 2
    assert "helpfulness" in page.locator("#item-annotations").inner_text()
    assert f"#{run.pk}" in page.locator("#item-scores").inner_text()
    verdicts = page.locator("#item-flags").inner_text()
    assert f"run #{judge_run.pk}" in verdicts and f"{rule}: violates" in verdicts
    shot(page, "item-page")

    # when: raw annotations are downloaded from the curation page, as JSON of one annotator
    page.goto(f"/projects/{project.pk}/curation/")
    page.locator("#annotation-export-annotator").select_option(data["annotators"][0].username)
    with page.expect_download() as download:
        page.locator("#annotation-export-download").click()
    records = json.loads(Path(download.value.path()).read_text())
    assert [r["annotator"] for r in records] == [data["annotators"][0].username]
