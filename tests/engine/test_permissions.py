"""Access to the API, checked from the URLconf so that no route can be forgotten.

- every API route's view declares its own `permission_classes`, and more than the default
  `IsAuthenticated` (except the public routes and the caller's own data, listed with a reason);
- the permission matrix (role x endpoint x method -> status) runs over every API route and
  method: a route or method with no row in MATRIX fails `test_matrix_covers_every_api_route`.

Permitted requests that would start heavy work get a body that fails validation (400), or
address an object that is not ready (409): either proves the permission check let them through.
"""

from __future__ import annotations

import pytest
from rest_framework.permissions import IsAuthenticated
from rest_framework.test import APIClient

from annotation.models import ProjectMembership
from annotation.services.projects import member_set, project_create
from tests.access_world import ROLES, api_routes, build_world, user_for
from tests.engine.conftest import client_for, good_answers
from tests.factories import CorpusFactory, ItemFactory, StaffFactory, UserFactory

PREFIX = "api/v1/"

# Routes anyone may call (no login) and why; no permission class is required of them.
PUBLIC = {
    "api/v1/auth/token/": "POST exchanges a username and password for a token (DELETE, which "
    "revokes the request's own token, is in MATRIX)",
    "api/schema/": "the OpenAPI document",
    "api/docs/": "the API's documentation page (Swagger UI)",
    "api/redoc/": "the API's documentation page (ReDoc)",
    "api/(?P<path>[\\s\\S]*)$": "the JSON 404 for unknown API paths",
}
# Routes that only ever reach the caller's own data: signing in is the whole rule.
OWN_DATA = {
    "api/v1/me/preferences/": "the caller's own preferences",
    "api/v1/auth/tokens/": "the caller's own API tokens",
    "api/v1/auth/tokens/<int:token_id>/": "one of the caller's own API tokens",
}
# Methods of a PUBLIC route that need a signed-in caller: they get MATRIX rows.
SIGNED_IN_METHODS_OF_PUBLIC = {("auth/token/", "delete")}

# (route below /api/v1/, method) -> (body, expected status per role in ROLES order)
MATRIX: dict[tuple[str, str], tuple[object, list[int]]] = {
    # annotation: projects
    ("projects/", "get"): (None, [401, 200, 200, 200, 200, 200]),
    ("projects/", "post"): ("create", [401, 403, 403, 403, 403, 201]),
    ("projects/<int:project_id>/", "get"): (None, [401, 404, 200, 200, 200, 200]),
    ("projects/<int:project_id>/", "patch"): ({"gold_rate": 0.1}, [401, 404, 403, 403, 200, 200]),
    ("projects/<int:project_id>/rubric/", "put"): ("rubric", [401, 404, 403, 403, 200, 200]),
    ("projects/<int:project_id>/constitution/", "put"): (
        "rules",
        [401, 404, 403, 403, 200, 200],
    ),
    ("projects/<int:project_id>/members/", "get"): (None, [401, 404, 403, 200, 200, 200]),
    ("projects/<int:project_id>/members/", "post"): ("member", [401, 404, 403, 403, 200, 200]),
    ("projects/<int:project_id>/members/bulk/", "post"): (
        {},
        [401, 404, 403, 403, 400, 400],
    ),
    ("projects/<int:project_id>/members/", "delete"): (
        "remove",
        [401, 404, 403, 403, 200, 200],
    ),
    # annotation: the queue (members only; staff too must be members to take work)
    ("projects/<int:project_id>/next/", "post"): (None, [401, 404, 200, 200, 200, 404]),
    ("projects/<int:project_id>/queue/status/", "get"): (None, [401, 404, 200, 200, 200, 200]),
    ("projects/<int:project_id>/skip/", "post"): ("leased", [401, 404, 200, 200, 200, 404]),
    ("projects/<int:project_id>/postpone/", "post"): ("leased", [401, 404, 200, 200, 200, 404]),
    ("projects/<int:project_id>/drafts/<int:item_id>/", "put"): (
        {"answers": {"faithful": True}},
        [401, 404, 200, 200, 200, 404],
    ),
    ("projects/<int:project_id>/annotations/", "post"): (
        "answer",
        [401, 404, 201, 201, 201, 404],
    ),
    ("projects/<int:project_id>/annotations/mine/", "get"): (
        None,
        [401, 404, 200, 200, 200, 200],
    ),
    ("projects/<int:project_id>/annotations/export/", "get"): (
        None,
        [401, 404, 403, 200, 200, 200],
    ),
    # annotation: review
    ("projects/<int:project_id>/agreement/", "get"): (None, [401, 404, 403, 200, 200, 200]),
    ("projects/<int:project_id>/progress/", "get"): (None, [401, 404, 403, 200, 200, 200]),
    ("projects/<int:project_id>/review/next/", "get"): (None, [401, 404, 403, 204, 204, 204]),
    ("projects/<int:project_id>/review/<int:item_id>/", "post"): (
        {"answers": {"faithful": True}},
        [401, 404, 403, 200, 200, 200],
    ),
    # annotation: items
    ("projects/<int:project_id>/items/", "get"): (None, [401, 404, 403, 200, 200, 200]),
    ("projects/<int:project_id>/items/", "post"): ("items", [401, 404, 403, 403, 201, 201]),
    ("projects/<int:project_id>/items/missing/", "get"): (None, [401, 404, 403, 200, 200, 200]),
    ("projects/<int:project_id>/items/missing/", "post"): (None, [401, 404, 403, 403, 200, 200]),
    ("items/<int:item_id>/suggestions/", "post"): (
        "suggestion",
        [401, 403, 403, 403, 201, 201],
    ),
    ("me/preferences/", "get"): (None, [401, 200, 200, 200, 200, 200]),
    # core: API tokens, each caller's own (these clients are signed in without a token, so
    # revoking "the token of this request" is a 400; the world's token is the creator's)
    ("auth/token/", "delete"): (None, [401, 400, 400, 400, 400, 400]),
    ("auth/tokens/", "get"): (None, [401, 200, 200, 200, 200, 200]),
    ("auth/tokens/<int:token_id>/", "delete"): (None, [401, 404, 404, 404, 404, 404]),
    ("me/preferences/", "put"): ({"keymap": {"submit": "Enter"}}, [401, 200, 200, 200, 200, 200]),
    # core: jobs (their creator or staff; the job here was created by another staff user)
    ("jobs/<int:job_id>/", "get"): (None, [401, 404, 404, 404, 404, 200]),
    ("jobs/<int:job_id>/cancel/", "post"): (None, [401, 404, 404, 404, 404, 409]),
    # core: people (staff create accounts, invite, deactivate); an empty body proves access
    ("users/", "get"): (None, [401, 403, 403, 403, 403, 200]),
    ("users/", "post"): ({}, [401, 403, 403, 403, 403, 400]),
    ("users/<int:user_id>/active/", "post"): ({}, [401, 403, 403, 403, 403, 400]),
    ("users/<int:user_id>/invitations/", "post"): (None, [401, 403, 403, 403, 403, 201]),
    # core: webhooks (staff-managed outbound targets)
    ("webhooks/", "get"): (None, [401, 403, 403, 403, 403, 200]),
    ("webhooks/", "post"): ({}, [401, 403, 403, 403, 403, 400]),
    ("webhooks/<int:endpoint_id>/", "get"): (None, [401, 403, 403, 403, 403, 200]),
    ("webhooks/<int:endpoint_id>/", "delete"): (None, [401, 403, 403, 403, 403, 204]),
    ("webhooks/<int:endpoint_id>/deliveries/", "get"): (None, [401, 403, 403, 403, 403, 200]),
    # corpora: members of a project that uses the corpus read it; staff create, import, delete
    ("corpora/", "get"): (None, [401, 200, 200, 200, 200, 200]),
    ("corpora/", "post"): ({"name": "new corpus"}, [401, 403, 403, 403, 403, 201]),
    ("corpora/<int:corpus_id>/", "get"): (None, [401, 404, 200, 200, 200, 200]),
    ("corpora/<int:corpus_id>/", "delete"): (None, [401, 403, 403, 403, 403, 202]),
    ("corpora/<int:corpus_id>/imports/", "post"): (
        {"path": "/nonexistent/records.json"},
        [401, 403, 403, 403, 403, 400],
    ),
    # curation: reviewers and owners; promoting is the owner's
    ("projects/<int:project_id>/reward-models/", "get"): (None, [401, 404, 403, 200, 200, 200]),
    ("projects/<int:project_id>/reward-models/", "post"): (
        {"hyperparameters": "not an object"},
        [401, 404, 403, 400, 400, 400],
    ),
    ("reward-models/<int:run_id>/", "get"): (None, [401, 404, 403, 200, 200, 200]),
    ("reward-models/<int:run_id>/promote/", "post"): (None, [401, 404, 403, 403, 409, 409]),
    # scoring any corpus the caller reads: the model project's owner; reviewers read
    ("reward-models/<int:run_id>/scorings/", "get"): (None, [401, 404, 403, 200, 200, 200]),
    ("reward-models/<int:run_id>/scorings/", "post"): ({}, [401, 404, 403, 403, 400, 400]),
    ("reward-models/<int:run_id>/score/", "post"): ({}, [401, 404, 403, 400, 400, 400]),
    ("reward-models/<int:run_id>/openrlhf/", "post"): ({}, [401, 404, 403, 400, 400, 400]),
    ("scorings/<int:scoring_id>/", "get"): (None, [401, 404, 403, 200, 200, 200]),
    ("scorings/<int:scoring_id>/items/", "get"): (None, [401, 404, 403, 200, 200, 200]),
    ("scorings/<int:scoring_id>/curations/", "post"): ({}, [401, 404, 403, 403, 400, 400]),
    ("projects/<int:project_id>/curations/", "post"): ({}, [401, 404, 403, 400, 400, 400]),
    ("projects/<int:project_id>/datasets/", "get"): (None, [401, 404, 403, 200, 200, 200]),
    ("datasets/<int:dataset_id>/", "get"): (None, [401, 404, 403, 200, 200, 200]),
    ("datasets/<int:dataset_id>/diff/<int:other_id>/", "get"): (
        None,
        [401, 404, 403, 200, 200, 200],
    ),
    ("datasets/<int:dataset_id>/exports/", "post"): ({}, [401, 404, 403, 400, 400, 400]),
    ("exports/<int:export_id>/download/", "get"): (None, [401, 404, 403, 409, 409, 409]),
    # rewriting a dataset version: the owner starts it, reviewers read and decide turns
    ("datasets/<int:dataset_id>/rewrites/", "get"): (None, [401, 404, 403, 200, 200, 200]),
    ("datasets/<int:dataset_id>/rewrites/", "post"): (
        {"shard_size": 0},
        [401, 404, 403, 403, 400, 400],
    ),
    ("datasets/<int:dataset_id>/rewrites/<int:rewrite_id>/", "get"): (
        None,
        [401, 404, 403, 200, 200, 200],
    ),
    ("datasets/<int:dataset_id>/rewrites/<int:rewrite_id>/turns/", "get"): (
        None,
        [401, 404, 403, 200, 200, 200],
    ),
    ("datasets/<int:dataset_id>/rewrites/<int:rewrite_id>/turns/<int:turn_id>/decision/", "post"): (
        {},
        [401, 404, 403, 400, 400, 400],
    ),
    # the safety judge: reviewers read, owners start runs; annotators of a blind project (the
    # default) never see the judge's suggestions
    ("projects/<int:project_id>/judge-runs/", "get"): (None, [401, 404, 403, 200, 200, 200]),
    ("projects/<int:project_id>/judge-runs/", "post"): (
        {"config": "not an object"},
        [401, 404, 403, 403, 400, 400],
    ),
    ("judge-runs/<int:judge_run_id>/", "get"): (None, [401, 404, 403, 200, 200, 200]),
    # the helper LLM's precondition proposals: reviewers see which LLM, owners ask
    ("projects/<int:project_id>/judge-proposals/", "get"): (None, [401, 404, 403, 200, 200, 200]),
    ("projects/<int:project_id>/judge-proposals/", "post"): (
        {"text": "x" * 1001},
        [401, 404, 403, 403, 400, 400],
    ),
    ("projects/<int:project_id>/items/<int:item_id>/judge/", "get"): (
        None,
        [401, 404, 403, 200, 200, 200],
    ),
}
LEASED = ("skip/", "postpone/", "drafts/<int:item_id>/", "annotations/")


def _body(kind, world, item_id: int):
    named = {
        "create": {"name": "new", "corpora": [world.corpus.pk]},
        "rubric": {"questions": [{"key": "ok", "type": "binary", "prompt": "OK?"}]},
        "rules": {"rules": [{"key": "gore", "text": "No gore.", "category": "violence"}]},
        "member": {"username": world.outsider.username, "role": "annotator"},
        "remove": {"user_id": world.member.pk},
        "leased": {"item_id": item_id},
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
    }
    return named.get(kind, kind) if isinstance(kind, str) else kind


def _routes():
    return {r.path: r for r in api_routes()}


def test_every_api_view_declares_a_permission_beyond_the_default():
    unchecked = []
    for route in api_routes():
        if route.path in PUBLIC:
            continue
        cls = route.view_class
        declared = cls is not None and any(
            "permission_classes" in vars(klass)
            for klass in cls.__mro__[:-1]
            if klass.__module__.split(".")[0]
            in {"core", "corpora", "annotation", "curation", "rewrites"}
        )
        classes = list(getattr(cls, "permission_classes", []) or [])
        only_default = all(c is IsAuthenticated for c in classes)
        if not declared or (only_default and route.path not in OWN_DATA):
            unchecked.append(route.path)
    assert unchecked == [], f"API routes with no permission of their own: {unchecked}"


def test_matrix_covers_every_api_route():
    served = {
        (route.path.removeprefix(PREFIX), method)
        for route in api_routes()
        for method in route.methods()
        if route.path not in PUBLIC
        or (route.path.removeprefix(PREFIX), method) in SIGNED_IN_METHODS_OF_PUBLIC
    }
    assert served - set(MATRIX) == set(), "API routes with no row in the permission matrix"
    assert set(MATRIX) - served == set(), "rows for routes that no longer exist"


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("path", "method"), list(MATRIX), ids=[f"{m} {p}" for p, m in MATRIX])
def test_permission_matrix(role, path, method, settings):
    body, expected = MATRIX[(path, method)]
    world = build_world()
    user = user_for(world, role)
    client = client_for(user) if user else APIClient()
    item_id = world.items[0].pk
    if role in ("annotator", "reviewer", "owner") and path.endswith(LEASED):
        # a member works on the item the queue hands out
        item_id = client.post(f"/api/v1/projects/{world.project.pk}/next/").json()["item"]["id"]
    url = _routes()[PREFIX + path].url(**world.ids(item_id))
    payload = _body(body, world, item_id) if body is not None else None
    response = getattr(client, method)(url, payload, format="json")
    assert response.status_code == expected[ROLES.index(role)], response.content[:300]
    if response.status_code >= 400:
        assert set(response.json()["error"]) == {"code", "message", "details"}


@pytest.mark.django_db
def test_annotators_never_see_others_answers_or_projects(settings):
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
