"""The safety judge on the annotation page: assisted projects show its suggestion per rule
(marked as the judge's, escaped, never filled into the answer); blind ones never request it.
The constitution editor edits each rule's preconditions (alternatives with "|") and central
objects, and shows the engine's error for a bad one."""

from __future__ import annotations

import pytest

from annotation.models import Constitution, ProjectItem, Rule, Suggestion
from annotation.services.projects import project_update
from tests.browser.conftest import login
from tests.browser.data import seed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EVIL = '<img src=x onerror="window.__pwned=1">'


def _trace(violated: bool, rationale: str) -> dict:
    steps = [
        {"step": "reasoning", "rationale": rationale, "outcome": "met" if violated else "not_met"}
    ]
    alternative = {
        "content": "blood from wounds",
        "outcome": "met" if violated else "not_met",
        "decided_by": "reasoning",
        "steps": steps,
    }
    return {
        "preconditions": [{"position": 0, "alternatives": [alternative], "met": violated}],
        "stopped_at": None if violated else 0,
    }


def _suggest(project) -> None:
    """A finished judge run's decisions on every item: violence violated, privacy not."""
    constitution = Constitution.objects.filter(project=project).order_by("-version").first()
    for item_id in ProjectItem.objects.filter(project=project).values_list("item_id", flat=True):
        for rule, violated in (("violence", True), ("privacy", False)):
            Suggestion.objects.create(
                item_id=item_id,
                question_key="safety",
                rule_key=rule,
                judge_run_id=1,
                value={"verdict": "violates" if violated else "does_not_violate"},
                score=0.9 if violated else 0.1,
                model_version="judge:test-vlm",
                constitution=constitution,
                trace=_trace(violated, f"Because {EVIL}"),
            )


def _open_workspace(page, project) -> list[str]:
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(f"/projects/{project.pk}/annotate/")
    page.wait_for_function("() => document.body.dataset.shown === '0'")
    page.wait_for_load_state("networkidle")
    return requests


def test_assisted_shows_the_judge_and_blind_never_asks(page, tmp_path):
    data = seed(tmp_path, n_items=3)
    project, annotator = data["project"], data["annotators"][0]
    _suggest(project)

    project_update(project=project, judge_assist="assisted")
    login(page, annotator.username)
    requests = _open_workspace(page, project)
    assert any("/judge/" in url for url in requests)
    hints = page.locator("#judge-hints")
    hints.wait_for(state="visible")
    violence = hints.locator('li[data-rule="violence"]')
    assert "judge: violates" in violence.inner_text()
    assert "blood from wounds" in violence.inner_text()
    assert "judge: does not violate" in hints.locator('li[data-rule="privacy"]').inner_text()
    assert "model, not you" in hints.inner_text()
    # the trace's text is shown as text, never parsed
    assert EVIL in violence.inner_text()
    assert hints.locator("img").count() == 0
    assert page.evaluate("window.__pwned") is None
    # the judge never answers for the annotator
    assert page.locator("#rubric-form input:checked").count() == 0

    project_update(project=project, judge_assist="blind")
    requests = _open_workspace(page, project)
    assert any("/next/" in url for url in requests)
    assert not [url for url in requests if "/judge/" in url]
    assert page.locator("#judge-hints").is_hidden()
    assert page.locator("#judge-hints li").count() == 0


def test_the_editor_edits_preconditions_and_central_objects(page, tmp_path):
    data = seed(tmp_path, n_items=1)
    project = data["project"]
    login(page, data["owner"].username)
    page.goto(f"/projects/{project.pk}/edit/")
    page.locator("#re-1-preconditions").wait_for()
    assert page.locator("#re-1-preconditions").input_value() == "Is there any text in the image?"

    version = project.constitutions.count() + 1
    page.locator("#re-1-preconditions").fill("an ID card | a passport |  \n\na readable name")
    page.locator("#re-1-central_objects").fill("card, passport,")
    page.get_by_role("button", name="Save as new version").click()
    page.wait_for_function("() => document.querySelector('#const-msg').textContent !== ''")
    assert f"Saved as version {version}." in page.locator("#const-msg").inner_text()
    rule = Rule.objects.get(
        constitution__project=project, constitution__version=version, key="privacy"
    )
    assert rule.preconditions == [["an ID card", "a passport"], "a readable name"]
    assert rule.central_objects == ["card", "passport"]

    # read back after a reload as it was written
    page.reload()
    page.locator("#re-1-preconditions").wait_for()
    assert (
        page.locator("#re-1-preconditions").input_value()
        == "an ID card | a passport\na readable name"
    )
    assert page.locator("#re-1-central_objects").input_value() == "card, passport"

    # a bad alternative: the engine's error names the rule and the precondition; no new version
    page.locator("#re-1-preconditions").fill("a readable name\n" + "x" * 501)
    page.get_by_role("button", name="Save as new version").click()
    message = page.locator("#const-msg")
    page.wait_for_function(
        "() => document.querySelector('#const-msg').textContent.includes('invalid')"
    )
    assert (
        "privacy: Precondition 2: each alternative is at most 500 characters."
        in message.inner_text()
    )
    assert project.constitutions.count() == version
