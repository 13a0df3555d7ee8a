"""Submitting answers: rubric validation, idempotent retries, revisions, undo, drafts."""

from __future__ import annotations

import uuid

import pytest

from annotation.models import Annotation, AnnotationRevision
from annotation.services.projects import rubric_set
from tests.engine.conftest import client_for, good_answers, submit

pytestmark = pytest.mark.django_db


def _lease(client, project) -> int:
    return client.post(f"/api/v1/projects/{project.pk}/next/").json()["item"]["id"]


def test_submit_creates_then_retry_returns_the_same(project, annotators):
    client = client_for(annotators[0])
    item_id = _lease(client, project)
    key = str(uuid.uuid4())
    first = submit(client, project.pk, item_id, key=key)
    assert first.status_code == 201
    body = first.json()
    assert body["revision"] == 1 and body["item_id"] == item_id and body["gold_feedback"] is None
    retry = submit(client, project.pk, item_id, key=key)
    assert retry.status_code == 200
    assert retry.json()["id"] == body["id"]
    assert Annotation.objects.count() == 1
    assert AnnotationRevision.objects.count() == 1


def test_resubmit_edits_and_keeps_history(project, annotators):
    client = client_for(annotators[0])
    item_id = _lease(client, project)
    submit(client, project.pk, item_id, good_answers(helpfulness=2))
    # the UI's undo: fetch my latest annotation with its item, then re-submit
    mine = client.get(f"/api/v1/projects/{project.pk}/annotations/mine/?limit=1").json()
    assert len(mine) == 1 and mine[0]["item"]["id"] == item_id
    edited = submit(client, project.pk, item_id, good_answers(helpfulness=5))
    assert edited.status_code == 200
    assert edited.json()["revision"] == 2
    annotation = Annotation.objects.get()
    assert annotation.answers["helpfulness"] == 5
    history = list(annotation.revisions.values_list("revision", "answers__helpfulness"))
    assert history == [(1, 2), (2, 5)]


def test_a_client_key_of_another_user_is_refused(project, annotators):
    a, b = client_for(annotators[0]), client_for(annotators[1])
    key = str(uuid.uuid4())
    submit(a, project.pk, _lease(a, project), key=key)
    item_b = _lease(b, project)
    r = submit(b, project.pk, item_b, key=key)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "client_key_reused"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("helpfulness", 7, "Give one of [1, 2, 3, 4, 5]."),
        ("faithful", "yes", "Give true or false."),
        ("best_answer", {"turn": 1, "ranking": [[0], [1]]}, "exactly once"),
        ("best_answer", {"turn": 0, "ranking": [[0]]}, "has no candidates"),
        ("nonsense", 1, "Not a question of this project's rubric."),
    ],
)
def test_invalid_answers_are_keyed_by_question(project, annotators, key, value, message):
    client = client_for(annotators[0])
    item_id = _lease(client, project)
    r = submit(client, project.pk, item_id, {**good_answers(), key: value})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == "invalid_answers"
    assert message in error["details"]["answers"][key][0]


def test_missing_required_answer(project, annotators):
    client = client_for(annotators[0])
    item_id = _lease(client, project)
    answers = good_answers()
    del answers["clarity"]
    r = submit(client, project.pk, item_id, answers)
    assert r.json()["error"]["details"]["answers"] == {"clarity": ["This question is required."]}


def test_every_question_type_validates(project, annotators):
    rubric_set(
        project=project,
        questions=[
            {"key": "tags", "type": "multi_label", "prompt": "Tags", "options": ["a", "b"]},
            {"key": "why", "type": "text", "prompt": "Why", "required": False},
            {"key": "pick", "type": "pairwise", "prompt": "Better?"},
            {"key": "safe", "type": "rule_verdict", "prompt": "Rules"},
        ],
    )
    from annotation.presets import default_constitution
    from annotation.services.projects import constitution_set

    constitution_set(project=project, **default_constitution())
    client = client_for(annotators[0])
    item_id = _lease(client, project)
    verdicts = {
        r["key"]: {"verdict": "does_not_violate", "rationale": ""}
        for r in default_constitution()["rules"]
    }
    ok = {
        "tags": ["a"],
        "why": "fine",
        "pick": {"turn": 1, "a": 0, "b": 2, "choice": "B"},
        "safe": verdicts,
    }
    assert submit(client, project.pk, item_id, ok).status_code == 201
    bad = {
        "tags": ["z"],
        "pick": {"turn": 1, "a": 0, "b": 0, "choice": "B"},
        "safe": {"hate": {"verdict": "maybe"}},
    }
    errors = submit(client, project.pk, item_id, bad).json()["error"]["details"]["answers"]
    assert set(errors) == {"tags", "pick", "safe"}
    assert "missing" in " ".join(errors["safe"])


def test_rubric_validation_errors(project, owner):
    client = client_for(owner)
    r = client.put(
        f"/api/v1/projects/{project.pk}/rubric/",
        {
            "questions": [
                {"key": "r", "type": "rating", "prompt": "R"},
                {"key": "r", "type": "binary"},
                {"key": "x", "type": "essay"},
            ]
        },
        format="json",
    )
    assert r.status_code == 400
    details = r.json()["error"]["details"]["questions"]
    assert "labels" in details["r"][0] and "type" in details["x"][0]


def test_constitution_put_creates_a_version(project, owner):
    client = client_for(owner)
    rules = [{"key": "gore", "text": "No gore.", "category": "violence", "severity": "high"}]
    for expected in (1, 2):
        r = client.put(
            f"/api/v1/projects/{project.pk}/constitution/", {"rules": rules}, format="json"
        )
        assert r.status_code == 200 and r.json()["version"] == expected
    detail = client.get(f"/api/v1/projects/{project.pk}/").json()
    assert detail["constitution"]["version"] == 2
    assert detail["rubric"]["questions"][0]["key"] == "faithful"


def test_preferences_roundtrip_and_conflicts(annotators):
    client = client_for(annotators[0])
    assert client.get("/api/v1/me/preferences/").json()["keymap"] == {}
    r = client.put(
        "/api/v1/me/preferences/", {"keymap": {"submit": "Enter", "skip": "s"}}, format="json"
    )
    assert r.status_code == 200 and r.json()["keymap"]["skip"] == "s"
    clash = client.put(
        "/api/v1/me/preferences/", {"keymap": {"submit": "s", "skip": "s"}}, format="json"
    )
    assert clash.status_code == 400 and clash.json()["error"]["code"] == "keymap_conflict"


def test_bulk_items_are_idempotent_on_external_id(project, owner):
    client = client_for(owner)
    payload = {
        "items": [
            {
                "external_id": "x1",
                "conversations": [{"from": "human", "value": "Q?"}, {"from": "gpt", "value": "A"}],
            }
        ]
    }
    first = client.post(f"/api/v1/projects/{project.pk}/items/", payload, format="json")
    assert first.status_code == 201 and first.json()["created"] == 1
    again = client.post(f"/api/v1/projects/{project.pk}/items/", payload, format="json")
    assert again.status_code == 200 and again.json()["unchanged"] == 1
    listed = client.get(f"/api/v1/projects/{project.pk}/items/?page_size=5").json()
    assert len(listed["results"]) == 5 and listed["next"]


def test_suggestions_are_attached(project, owner, corpus):
    item = corpus.items.first()
    r = client_for(owner).post(
        f"/api/v1/items/{item.pk}/suggestions/",
        {
            "suggestions": [
                {"question_key": "faithful", "value": True, "score": 0.9, "model_version": "rm-1"}
            ]
        },
        format="json",
    )
    assert r.status_code == 201 and r.json()["created"] == 1
