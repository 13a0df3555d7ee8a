"""Bad input is a 400 with the field, never a 500; a project never loses its last owner."""

from __future__ import annotations

import pytest
from django.db import DataError

from annotation.models import ProjectMembership
from annotation.services.projects import member_set
from core.api.errors import api_exception_handler
from tests.engine.conftest import client_for
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _rule(**overrides: object) -> dict:
    return {"key": "r1", "text": "No weapons.", "category": "violence", **overrides}


@pytest.mark.parametrize("after", ["abc", "-3", "1.5", str(2**70)])
def test_review_next_rejects_a_bad_cursor(project, reviewer, after):
    response = client_for(reviewer).get(
        f"/api/v1/projects/{project.pk}/review/next/", {"after": after}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        (_rule(category="c" * 65), "category"),
        (_rule(key="k" * 65), "key"),
        (_rule(text="t" * 4001), "text"),
        (_rule(objectified="o" * 4001), "objectified"),
        (_rule(preconditions=["p"] * 33), "preconditions"),
    ],
)
def test_constitution_fields_longer_than_their_limit_are_400(project, owner, rule, field):
    response = client_for(owner).put(
        f"/api/v1/projects/{project.pk}/constitution/", {"rules": [rule]}, format="json"
    )
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_constitution"
    assert field in str(error["details"])
    assert project.constitutions.count() == 0


def test_the_last_owner_can_neither_demote_nor_remove_itself(project):
    # given: one owner
    owner = UserFactory(username="only-owner")
    client = client_for(owner)
    url = f"/api/v1/projects/{project.pk}/members/"
    member_set(project=project, user_id=owner.pk, role="owner")
    project.memberships.exclude(user=owner).filter(role="owner").delete()

    # when / then: demoting or removing itself is refused and nothing changes
    demote = client.post(url, {"user_id": owner.pk, "role": "annotator"}, format="json")
    assert demote.status_code == 400
    assert demote.json()["error"]["code"] == "last_owner"
    remove = client.delete(url, {"user_id": owner.pk}, format="json")
    assert remove.status_code == 400
    assert ProjectMembership.objects.get(project=project, user=owner).role == "owner"

    # with a second owner, the first may step down
    second = UserFactory(username="second-owner")
    for user, role in ((second, "owner"), (owner, "reviewer")):
        response = client.post(url, {"user_id": user.pk, "role": role}, format="json")
        assert response.status_code == 200
    assert ProjectMembership.objects.get(project=project, user=owner).role == "reviewer"


def test_a_number_past_its_column_is_a_400_not_a_500(project, owner):
    client = client_for(owner)
    url = f"/api/v1/projects/{project.pk}/"
    response = client.patch(url, {"gold_min_answers": 1765128114018}, format="json")
    assert response.status_code == 400
    assert "gold_min_answers" in response.json()["error"]["message"]
    project.refresh_from_db()
    assert project.gold_min_answers != 1765128114018


def test_database_range_errors_become_the_error_shape():
    # What no serializer bound caught, the database refuses: the client's error, not a 500.
    response = api_exception_handler(DataError("integer out of range"), {})
    assert response.status_code == 400
    assert response.data["error"]["code"] == "value_out_of_range"
