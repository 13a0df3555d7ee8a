"""Why a queue is empty: complete, leased to others, or waiting for others' answers."""

from __future__ import annotations

import pytest

from annotation.models import ProjectMembership
from annotation.selectors.queue_status import project_queue_status
from annotation.services.projects import member_set, project_create
from tests.engine.conftest import client_for, submit
from tests.factories import CorpusFactory, ItemFactory, UserFactory

pytestmark = pytest.mark.django_db


def _project(owner, *, items: int, overlap: int, users: int):
    corpus = CorpusFactory()
    ItemFactory.create_batch(items, corpus=corpus)
    project = project_create(name="q", corpora=[corpus], created_by=owner, overlap=overlap)
    people = [UserFactory(username=f"a{i}") for i in range(users)]
    for user in people:
        member_set(project=project, user_id=user.pk, role=ProjectMembership.Role.ANNOTATOR)
    return project, people


def _work_through(project, user) -> int:
    client, n = client_for(user), 0
    while (response := client.post(f"/api/v1/projects/{project.pk}/next/")).status_code == 200:
        assert submit(client, project.pk, response.json()["item"]["id"]).status_code == 201
        n += 1
    return n


def test_done_with_my_part_waits_for_the_overlap(owner):
    # given an overlap of 2 and one annotator who answered every item
    project, (first, second) = _project(owner, items=3, overlap=2, users=2)
    assert project_queue_status(project=project, user=first)["state"] == "available"
    assert _work_through(project, first) == 3
    # then the first waits for others, and the project is not done yet
    status = project_queue_status(project=project, user=first)
    assert status["state"] == "waiting_for_others"
    assert (status["total"], status["done"], status["mine"]) == (3, 0, 3)
    assert status["waiting_for_others"] == 3
    assert project_queue_status(project=project, user=second)["state"] == "available"
    # when the second answers too, the project is complete for both, and progress moved
    _work_through(project, second)
    for user in (first, second):
        status = project_queue_status(project=project, user=user)
        assert (status["state"], status["done"], status["waiting_for_others"]) == ("complete", 3, 0)


def test_items_leased_to_others_are_named_with_when_they_come_back(owner):
    project, (holder, idle) = _project(owner, items=2, overlap=1, users=2)
    client = client_for(holder)
    held = {client.post(f"/api/v1/projects/{project.pk}/next/").json()["item"]["id"]}
    held.add(
        client.post(
            f"/api/v1/projects/{project.pk}/next/", {"exclude": list(held)}, format="json"
        ).json()["item"]["id"]
    )
    assert len(held) == 2
    assert client_for(idle).post(f"/api/v1/projects/{project.pk}/next/").status_code == 204
    status = project_queue_status(project=project, user=idle)
    assert status["state"] == "leased_by_others"
    assert status["leased_by_others"] == 2 and status["next_lease_expires_at"] is not None
    # the holder's own leases are work for the holder, not a wait
    assert project_queue_status(project=project, user=holder)["state"] == "available"


def test_the_api_answers_members_with_the_same_status(owner):
    project, (user,) = _project(owner, items=1, overlap=1, users=1)
    _work_through(project, user)
    body = client_for(user).get(f"/api/v1/projects/{project.pk}/queue/status/").json()
    assert body["state"] == "complete" and body["done"] == body["total"] == 1
    assert body["mine"] == 1 and body["next_lease_expires_at"] is None
