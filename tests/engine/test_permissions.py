"""Permission matrix: role x endpoint x method -> status, as one parametrised test."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from annotation.models import ProjectMembership
from annotation.services.projects import member_set, project_create
from tests.engine.conftest import client_for, good_answers
from tests.factories import CorpusFactory, ItemFactory, StaffFactory, UserFactory

ROLES = ["anonymous", "stranger", "annotator", "reviewer", "owner", "staff"]

# (method, path, body) -> expected status per role, in ROLES order.
MATRIX = [
    ("get", "projects/", None, [401, 200, 200, 200, 200, 200]),
    ("post", "projects/", "create", [401, 403, 403, 403, 403, 201]),
    ("get", "{p}/", None, [401, 404, 200, 200, 200, 200]),
    ("patch", "{p}/", {"gold_rate": 0.1}, [401, 404, 403, 403, 200, 200]),
    ("put", "{p}/rubric/", "rubric", [401, 404, 403, 403, 200, 200]),
    ("put", "{p}/constitution/", "rules", [401, 404, 403, 403, 200, 200]),
    ("get", "{p}/members/", None, [401, 404, 403, 200, 200, 200]),
    ("post", "{p}/members/", "member", [401, 404, 403, 403, 200, 200]),
    ("post", "{p}/next/", None, [401, 404, 200, 200, 200, 404]),
    ("post", "{p}/annotations/", "answer", [401, 404, 201, 201, 201, 404]),
    ("get", "{p}/annotations/mine/", None, [401, 404, 200, 200, 200, 200]),
    ("get", "{p}/agreement/", None, [401, 404, 403, 200, 200, 200]),
    ("get", "{p}/progress/", None, [401, 404, 403, 200, 200, 200]),
    ("get", "{p}/review/next/", None, [401, 404, 403, 204, 204, 204]),
    ("post", "{p}/review/{i}/", {"answers": {"faithful": True}}, [401, 404, 403, 200, 200, 200]),
    ("get", "{p}/items/", None, [401, 404, 403, 200, 200, 200]),
    ("post", "{p}/items/", "items", [401, 404, 403, 403, 201, 201]),
    ("post", "items/{i}/suggestions/", "suggestion", [401, 403, 403, 403, 201, 201]),
    ("get", "me/preferences/", None, [401, 200, 200, 200, 200, 200]),
]


def _body(kind, corpus_id: int, item_id: int, username: str):
    return (
        {
            "create": {"name": "new", "corpora": [corpus_id]},
            "rubric": {"questions": [{"key": "ok", "type": "binary", "prompt": "OK?"}]},
            "rules": {"rules": [{"key": "gore", "text": "No gore.", "category": "violence"}]},
            "member": {"username": username, "role": "annotator"},
            "answer": {"item_id": item_id, "answers": good_answers()},
            "items": {
                "items": [
                    {
                        "external_id": "new-1",
                        "conversations": [
                            {"from": "human", "value": "Q"},
                            {"from": "gpt", "value": "A"},
                        ],
                    }
                ]
            },
            "suggestion": {
                "suggestions": [{"question_key": "faithful", "value": True, "model_version": "m"}]
            },
        }.get(kind, kind)
        if isinstance(kind, str)
        else kind
    )


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("method", "path", "body", "expected"), MATRIX, ids=[f"{m} {p}" for m, p, _, _ in MATRIX]
)
def test_permission_matrix(role, method, path, body, expected, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    creator = StaffFactory(username="creator")
    corpus = CorpusFactory()
    items = ItemFactory.create_batch(2, corpus=corpus)
    project = project_create(name="p", corpora=[corpus], created_by=creator, overlap=3)
    other = UserFactory(username="other")
    user = None
    if role == "staff":
        user = StaffFactory(username="admin")
    elif role != "anonymous":
        user = UserFactory(username=role)
        if role != "stranger":
            member_set(project=project, user_id=user.pk, role=role)
    client = client_for(user) if user else APIClient()
    item_id = items[0].pk
    if role in ("annotator", "reviewer", "owner") and path.endswith("annotations/"):
        client.post(f"/api/v1/projects/{project.pk}/next/")
    url = "/api/v1/" + path.format(p=f"projects/{project.pk}", i=item_id)
    payload = _body(body, corpus.pk, item_id, other.username) if body else None
    response = getattr(client, method)(url, payload, format="json")
    assert response.status_code == expected[ROLES.index(role)], response.content[:300]
    if response.status_code >= 400:
        assert set(response.json()["error"]) == {"code", "message", "details"}


@pytest.mark.django_db
def test_annotators_never_see_others_answers_or_projects(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    creator = StaffFactory(username="creator")
    corpus = CorpusFactory()
    ItemFactory.create_batch(2, corpus=corpus)
    mine = project_create(name="mine", corpora=[corpus], created_by=creator, overlap=2)
    project_create(name="theirs", corpora=[corpus], created_by=creator)
    a, b = UserFactory(username="a"), UserFactory(username="b")
    for user in (a, b):
        member_set(project=mine, user_id=user.pk, role=ProjectMembership.Role.ANNOTATOR)
    ca, cb = client_for(a), client_for(b)
    item_id = ca.post(f"/api/v1/projects/{mine.pk}/next/").json()["item"]["id"]
    ca.post(
        f"/api/v1/projects/{mine.pk}/annotations/",
        {"item_id": item_id, "answers": good_answers()},
        format="json",
    )
    assert [p["name"] for p in cb.get("/api/v1/projects/").json()] == ["mine"]
    assert cb.get(f"/api/v1/projects/{mine.pk}/annotations/mine/").json() == []
