"""Bad input is a 400 with the field, never a 500; a project never loses its last owner."""

from __future__ import annotations

import pytest

from annotation.models import ProjectMembership
from annotation.services.projects import member_set
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


def test_a_gold_minimum_beyond_its_column_is_400(project, owner):
    # the column is a small integer: a bigger number was a database error (500)
    response = client_for(owner).patch(
        f"/api/v1/projects/{project.pk}/", {"gold_min_answers": 10**12}, format="json"
    )
    assert response.status_code == 400
    assert "gold_min_answers" in str(response.json()["error"]["details"])
