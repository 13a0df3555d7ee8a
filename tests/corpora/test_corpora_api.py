"""The corpora API: list, create (staff), retrieve; errors in the one error shape."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from annotation.services.projects import member_set, project_create
from tests.factories import CorpusFactory, ItemFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.django_db


def _client(user) -> APIClient:
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


def _member_of_project_on(corpus, role: str = "annotator"):
    user = UserFactory()
    project = project_create(name=f"on-{corpus.name}", corpora=[corpus], created_by=StaffFactory())
    member_set(project=project, user_id=user.pk, role=role)
    return user


def test_annotators_list_the_corpora_of_their_projects_but_do_not_create():
    # given a corpus used by the user's project, and two others that are not
    seen = CorpusFactory(name="seen")
    CorpusFactory(name="unused")
    other = CorpusFactory(name="other-project")
    project_create(name="theirs", corpora=[other], created_by=StaffFactory())
    client = _client(_member_of_project_on(seen))
    # then only the corpus of their own project is listed, and creating stays staff-only
    assert [c["name"] for c in client.get("/api/v1/corpora/").json()] == ["seen"]
    assert client.post("/api/v1/corpora/", {"name": "x"}, format="json").status_code == 403


def test_a_user_with_no_project_sees_no_corpus_and_staff_see_all():
    CorpusFactory(name="a")
    CorpusFactory(name="b")
    assert _client(UserFactory()).get("/api/v1/corpora/").json() == []
    staff = _client(StaffFactory()).get("/api/v1/corpora/").json()
    assert [c["name"] for c in staff] == ["a", "b"]


def test_a_corpus_outside_my_projects_reads_as_missing():
    hidden = CorpusFactory(name="hidden")
    client = _client(_member_of_project_on(CorpusFactory(name="mine")))
    response = client.get(f"/api/v1/corpora/{hidden.pk}/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    imports = client.post(f"/api/v1/corpora/{hidden.pk}/imports/", {"path": "/x"}, format="json")
    assert imports.status_code == 403  # imports are staff-only, whatever the corpus


def test_retrieve_counts_items_and_a_missing_corpus_is_404():
    corpus = CorpusFactory()
    ItemFactory(corpus=corpus)
    client = _client(_member_of_project_on(corpus, role="reviewer"))
    assert client.get(f"/api/v1/corpora/{corpus.pk}/").json()["item_count"] == 1
    missing = client.get(f"/api/v1/corpora/{corpus.pk + 1}/")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    staff = _client(StaffFactory())
    imports = staff.post(f"/api/v1/corpora/{corpus.pk + 1}/imports/", {"path": "/x"}, format="json")
    assert imports.status_code == 404


def test_an_owner_cannot_attach_a_corpus_they_may_not_see():
    # given an owner (not staff) of a project on one corpus, and a corpus of no project of theirs
    mine, hidden = CorpusFactory(name="mine"), CorpusFactory(name="hidden")
    owner = _member_of_project_on(mine, role="owner")
    project_id = _client(owner).get("/api/v1/projects/").json()[0]["id"]
    # when they add the hidden corpus to their project
    response = _client(owner).patch(
        f"/api/v1/projects/{project_id}/", {"corpora": [mine.pk, hidden.pk]}, format="json"
    )
    # then it reads as missing, and the project keeps its corpus
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"ids": [hidden.pk]}
    assert _client(owner).get(f"/api/v1/projects/{project_id}/").json()["corpora"] == [mine.pk]
