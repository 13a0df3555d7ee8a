"""The corpora API: list, create (staff), retrieve; errors in the one error shape."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.factories import CorpusFactory, ItemFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.django_db


def _client(user) -> APIClient:  # noqa: ANN001
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_staff_creates_a_corpus_once():
    client = _client(StaffFactory())
    created = client.post("/api/v1/corpora/", {"name": "llava"}, format="json")
    assert created.status_code == 201
    assert created.json()["name"] == "llava" and created.json()["item_count"] == 0
    again = client.post("/api/v1/corpora/", {"name": "llava"}, format="json")
    assert again.status_code == 409
    assert again.json()["error"] == {
        "code": "conflict",
        "message": "A corpus with this name exists.",
        "details": {},
    }


def test_annotators_list_but_do_not_create():
    client = _client(UserFactory())
    CorpusFactory(name="seen")
    assert [c["name"] for c in client.get("/api/v1/corpora/").json()] == ["seen"]
    assert client.post("/api/v1/corpora/", {"name": "x"}, format="json").status_code == 403


def test_retrieve_counts_items_and_a_missing_corpus_is_404():
    corpus = CorpusFactory()
    ItemFactory(corpus=corpus)
    client = _client(UserFactory())
    assert client.get(f"/api/v1/corpora/{corpus.pk}/").json()["item_count"] == 1
    missing = client.get(f"/api/v1/corpora/{corpus.pk + 1}/")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    staff = _client(StaffFactory())
    imports = staff.post(f"/api/v1/corpora/{corpus.pk + 1}/imports/", {"path": "/x"}, format="json")
    assert imports.status_code == 404
