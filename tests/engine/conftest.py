"""Fixtures of the annotation-engine tests: a corpus, a project and one client per role."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from annotation.models import ProjectMembership
from annotation.services.projects import member_set, project_create
from tests.factories import CorpusFactory, ItemFactory, StaffFactory, UserFactory


@pytest.fixture
def corpus(db):
    corpus = CorpusFactory()
    ItemFactory.create_batch(6, corpus=corpus)
    ItemFactory.create_batch(2, corpus=corpus, category="detail")
    return corpus


@pytest.fixture
def owner(db):
    return StaffFactory(username="owner")


@pytest.fixture
def project(corpus, owner):
    return project_create(name="p", corpora=[corpus], created_by=owner, overlap=2)


@pytest.fixture
def annotators(project):
    users = [UserFactory(username=f"ann{i}") for i in range(3)]
    for user in users:
        member_set(project=project, user_id=user.pk, role=ProjectMembership.Role.ANNOTATOR)
    return users


@pytest.fixture
def reviewer(project):
    user = UserFactory(username="rev")
    member_set(project=project, user_id=user.pk, role=ProjectMembership.Role.REVIEWER)
    return user


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def good_answers(item_id: int | None = None, helpfulness: int = 4) -> dict:
    return {
        "faithful": True,
        "no_hallucination": True,
        "answerable": True,
        "helpfulness": helpfulness,
        "clarity": 4,
        "detail": 3,
        "best_answer": {"turn": 1, "ranking": [[1], [0, 2]]},
    }


def submit(
    client: APIClient,
    project_id: int,
    item_id: int,
    answers: dict | None = None,
    key: str | None = None,
):
    return client.post(
        f"/api/v1/projects/{project_id}/annotations/",
        {
            "item_id": item_id,
            "answers": answers or good_answers(),
            "client_key": key or str(uuid.uuid4()),
        },
        format="json",
    )
