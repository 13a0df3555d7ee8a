"""A rule's AND-chain of preconditions (each an OR of alternatives) and its central objects go
through the constitution API as the editor sends them, bounded, with errors that name the rule
and the precondition; a refused version leaves nothing behind."""

from __future__ import annotations

import pytest

from annotation.models import Rule
from tests.engine.conftest import client_for

pytestmark = pytest.mark.django_db


def _rule(**overrides: object) -> dict:
    return {"key": "weapons", "text": "No weapons.", "category": "violence", **overrides}


def _put(project, owner, rule: dict):
    return client_for(owner).put(
        f"/api/v1/projects/{project.pk}/constitution/", {"rules": [rule]}, format="json"
    )


def test_alternatives_and_objects_are_stored_and_read_back(project, owner):
    rule = _rule(
        preconditions=[[" a gun ", "a knife"], ["a person holding it"], "indoors"],
        central_objects=["gun", " knife "],
    )
    response = _put(project, owner, rule)
    assert response.status_code == 200, response.content
    returned = response.json()["rules"][0]
    # a single alternative is plain text; every alternative and word is trimmed
    assert returned["preconditions"] == [["a gun", "a knife"], "a person holding it", "indoors"]
    assert returned["central_objects"] == ["gun", "knife"]
    stored = Rule.objects.get(constitution__project=project, key="weapons")
    assert stored.preconditions == returned["preconditions"]
    detail = client_for(owner).get(f"/api/v1/projects/{project.pk}/").json()
    assert detail["constitution"]["rules"][0]["central_objects"] == ["gun", "knife"]
    # a second save is a new version
    assert _put(project, owner, _rule()).json()["version"] == 2


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (_rule(preconditions=[["a"] * 17]), "Precondition 1: at most 16 alternatives"),
        (_rule(preconditions=["ok", ["x" * 501]]), "Precondition 2: each alternative is at most"),
        (_rule(preconditions=["ok", "ok", []]), "Precondition 3 has no alternatives"),
        (_rule(preconditions=[["a", "  "]]), "Precondition 1: each alternative is a non-empty"),
        (_rule(preconditions=["a | b"]), "may not contain '|'"),
        (_rule(preconditions=["a\nb"]), "may not contain '|'"),
        (_rule(preconditions=["p"] * 33), "at most 32, got 33"),
        (_rule(preconditions=[[3]]), "A yes/no check (text) or a list of alternatives"),
        (_rule(preconditions="a gun"), "preconditions"),
        (_rule(central_objects=["w"] * 33), "at most 32 words, got 33"),
        (_rule(central_objects=["gun, knife"]), "may not contain ','"),
        (_rule(central_objects=["x" * 101]), "central_objects"),
        (_rule(central_objects=[""]), "central_objects"),
    ],
)
def test_bad_preconditions_or_objects_are_a_clear_400_and_store_nothing(
    project, owner, rule, message
):
    response = _put(project, owner, rule)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_constitution"
    # the error names the rule, with readable lines the editor shows as they are
    lines = error["details"]["weapons"]
    assert all(isinstance(line, str) for line in lines)
    assert message in " ".join(lines), lines
    assert project.constitutions.count() == 0
