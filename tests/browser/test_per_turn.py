"""Per-turn questions: asked under each answer of a multi-turn item, answered by keyboard,
validated per turn on submit."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from annotation.models import Annotation, ProjectMembership
from annotation.services.projects import member_set, project_create
from tests.browser.conftest import login, shot
from tests.browser.data import PASSWORD
from tests.factories import CorpusFactory, ItemFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CONVERSATION = [
    {"from": "human", "value": "What is in the park?"},
    {"from": "gpt", "value": "A dog and a bench."},
    {"from": "human", "value": "What colour is the dog?"},
    {"from": "gpt", "value": "The dog is brown."},
]
QUESTIONS = [
    {
        "key": "correct",
        "type": "rating",
        "prompt": "Is this answer correct?",
        "per_turn": True,
        "labels": [{"value": v, "label": str(v)} for v in range(1, 6)],
    },
    {"key": "overall", "type": "binary", "prompt": "Good conversation overall?"},
]


def test_a_per_turn_question_is_answered_under_each_turn_by_keyboard(page):
    corpus = CorpusFactory()
    ItemFactory.create_batch(3, corpus=corpus, conversations=CONVERSATION, has_candidates=False)
    owner = get_user_model().objects.create_user("boss", password=PASSWORD, is_staff=True)
    project = project_create(name="turns", corpora=[corpus], created_by=owner, questions=QUESTIONS)
    user = get_user_model().objects.create_user("ann", password=PASSWORD)
    member_set(project=project, user_id=user.pk, role=ProjectMembership.Role.ANNOTATOR)
    login(page, user.username)
    page.goto(f"/projects/{project.pk}/annotate/")
    page.wait_for_function("() => document.body.dataset.shown === '0'")
    # the question sits under each answer turn of the conversation
    for turn in (1, 3):
        block = page.locator(f'#chat .turn[data-turn="{turn}"] .q[data-key="correct"]')
        assert block.count() == 1
    assert page.locator('#chat .turn[data-turn="0"] .q').count() == 0
    shot(page, "workspace-per-turn")

    # submitting with turn 3 unanswered is refused and points at that turn
    page.keyboard.press("4")
    page.keyboard.press("Enter")
    missing = page.locator('#chat .q.missing[data-turn="3"]')
    missing.wait_for()
    assert page.locator('#chat .q.missing[data-turn="1"]').count() == 0
    assert not Annotation.objects.exists()

    expected = {}
    for n in range(3):
        item_id = page.evaluate("window.arbiterWorkspace.state.current.item.id")
        if n == 0:
            keys = ["2", "1"]  # turn 3 active after the refusal; then "overall": yes
            want = {"correct": {"1": 4, "3": 2}, "overall": True}
        else:
            keys = ["5", "3", "2"]  # turn 1, turn 3 (auto-advance), overall: no
            want = {"correct": {"1": 5, "3": 3}, "overall": False}
        for key in keys:
            page.keyboard.press(key)
        seq = page.evaluate("window.arbiterWorkspace.state.seq")
        page.keyboard.press("Enter")
        page.wait_for_function(f"() => document.body.dataset.shown === '{seq + 1}'")
        expected[item_id] = want
    page.locator("#ws-empty").wait_for(state="visible")
    got = {a.item_id: a.answers for a in Annotation.objects.filter(user=user)}
    assert got == expected


def test_the_editor_sets_a_question_per_turn(page):
    corpus = CorpusFactory()
    ItemFactory.create_batch(1, corpus=corpus, conversations=CONVERSATION, has_candidates=False)
    owner = get_user_model().objects.create_user("boss", password=PASSWORD, is_staff=True)
    questions = [{**q, "per_turn": False} for q in QUESTIONS]
    project = project_create(name="edit", corpora=[corpus], created_by=owner, questions=questions)
    login(page, owner.username)
    page.goto(f"/projects/{project.pk}/edit/")
    box = page.get_by_label("Question 1: ask per turn")
    box.wait_for()
    assert not box.is_checked()
    # a binary question can be asked per turn too; the editor offers it
    assert page.get_by_label("Question 2: ask per turn").count() == 1
    box.check()
    page.locator("#save-rubric").click()
    page.locator("#rubric-msg").filter(has_text="Saved").wait_for()
    project.rubric.refresh_from_db()
    flags = {q["key"]: q.get("per_turn", False) for q in project.rubric.questions}
    assert flags == {"correct": True, "overall": False}
