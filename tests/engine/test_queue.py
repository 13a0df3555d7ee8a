"""The work queue: order, overlap, leases, skip and postpone, gold, query counts."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from annotation.models import Assignment, ProjectItem
from annotation.services.items import project_items_upsert
from annotation.services.projects import project_update
from annotation.services.queue import item_next
from core.services.tokens import token_create
from tests.engine.conftest import client_for, good_answers, submit

pytestmark = pytest.mark.django_db


def _next(client, project):
    return client.post(f"/api/v1/projects/{project.pk}/next/")


def test_next_returns_item_payload_and_same_lease_again(project, annotators):
    client = client_for(annotators[0])
    first = _next(client, project)
    assert first.status_code == 200
    body = first.json()
    assert set(body) == {"assignment", "item", "draft"}
    assert set(body["item"]) >= {
        "id",
        "external_id",
        "image_url",
        "width",
        "height",
        "category",
        "conversations",
        "questions",
    }
    assert body["assignment"]["is_gold"] is False
    assert body["draft"] is None
    # given an unexpired lease, when asking again, then the same item comes back
    again = _next(client, project).json()
    assert again["item"]["id"] == body["item"]["id"]
    assert again["assignment"]["id"] == body["assignment"]["id"]


def test_overlap_is_never_exceeded_and_nobody_sees_an_item_twice(project, annotators):
    served: dict[int, list[int]] = {}
    for user in annotators:
        client = client_for(user)
        while (response := _next(client, project)).status_code == 200:
            item_id = response.json()["item"]["id"]
            served.setdefault(item_id, []).append(user.pk)
            assert submit(client, project.pk, item_id).status_code == 201
        assert response.status_code == 204
    assert len(served) == 8
    for users in served.values():
        assert len(users) == 2  # overlap 2
        assert len(set(users)) == 2
    assert not ProjectItem.objects.filter(project=project, open_slots__gt=0).exists()


def test_partly_annotated_items_come_first(project, annotators):
    a, b = (client_for(u) for u in annotators[:2])
    first = _next(a, project).json()["item"]["id"]
    submit(a, project.pk, first)
    second_a = _next(a, project).json()["item"]["id"]
    # b gets the item a already started (finish what is started)
    assert _next(b, project).json()["item"]["id"] == first
    assert second_a != first


def test_lapsed_lease_goes_to_others_first(project, annotators):
    project_update(project=project, overlap=1)
    a, b = annotators[:2]
    lease = item_next(project_id=project.pk, user=a)
    Assignment.objects.filter(pk=lease.assignment_id).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    other = item_next(project_id=project.pk, user=b)
    # b's call reclaimed a's lapsed lease; with sequential sampling the freed item is first
    assert other.project_item_id == lease.project_item_id
    assert Assignment.objects.get(pk=lease.assignment_id).status == "expired"


def test_my_lapsed_lease_not_yet_reclaimed_is_renewed(project, annotators):
    a = annotators[0]
    lease = item_next(project_id=project.pk, user=a)
    Assignment.objects.filter(pk=lease.assignment_id).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    # given my own lapsed lease that nobody reclaimed yet, when I ask again, I keep my item
    again = item_next(project_id=project.pk, user=a)
    assert (again.assignment_id, again.project_item_id) == (
        lease.assignment_id,
        lease.project_item_id,
    )
    assert again.lease_expires_at > timezone.now()
    assert Assignment.objects.get(pk=lease.assignment_id).status == "leased"


def test_skip_requeue_for_others_never_returns_to_me(project, annotators):
    client = client_for(annotators[0])
    item_id = _next(client, project).json()["item"]["id"]
    response = client.post(
        f"/api/v1/projects/{project.pk}/skip/", {"item_id": item_id}, format="json"
    )
    assert response.json() == {"item_id": item_id, "status": "skipped"}
    seen = []
    while (r := _next(client, project)).status_code == 200:
        seen.append(r.json()["item"]["id"])
        submit(client, project.pk, seen[-1])
    assert item_id not in seen
    assert ProjectItem.objects.get(project=project, item_id=item_id).open_slots == 2


def test_skip_requeue_for_me_comes_back_last(project, annotators):
    project_update(project=project, skip_policy="requeue_for_me")
    client = client_for(annotators[0])
    item_id = _next(client, project).json()["item"]["id"]
    client.post(f"/api/v1/projects/{project.pk}/skip/", {"item_id": item_id}, format="json")
    seen = []
    while (r := _next(client, project)).status_code == 200:
        seen.append(r.json()["item"]["id"])
        submit(client, project.pk, seen[-1])
    assert seen[-1] == item_id and seen.count(item_id) == 1


def test_skip_ignore_counts_as_response(project, annotators):
    project_update(project=project, skip_policy="ignore", overlap=1)
    client = client_for(annotators[0])
    item_id = _next(client, project).json()["item"]["id"]
    client.post(f"/api/v1/projects/{project.pk}/skip/", {"item_id": item_id}, format="json")
    pitem = ProjectItem.objects.get(project=project, item_id=item_id)
    assert (pitem.open_slots, pitem.responses, pitem.done_count) == (0, 1, 0)
    other = client_for(annotators[1])
    served = []
    while (r := _next(other, project)).status_code == 200:
        served.append(r.json()["item"]["id"])
        submit(other, project.pk, served[-1])
    assert item_id not in served


def test_postpone_comes_back_after_new_items(project, annotators):
    client = client_for(annotators[0])
    item_id = _next(client, project).json()["item"]["id"]
    r = client.post(f"/api/v1/projects/{project.pk}/postpone/", {"item_id": item_id}, format="json")
    assert r.json()["status"] == "postponed"
    assert _next(client, project).json()["item"]["id"] != item_id
    seen = []
    while (r := _next(client, project)).status_code == 200:
        seen.append(r.json()["item"]["id"])
        submit(client, project.pk, seen[-1])
    assert seen[-1] == item_id


def test_draft_autosave_comes_back_with_the_lease(project, annotators):
    client = client_for(annotators[0])
    item_id = _next(client, project).json()["item"]["id"]
    r = client.put(
        f"/api/v1/projects/{project.pk}/drafts/{item_id}/",
        {"answers": {"faithful": False}},
        format="json",
    )
    assert r.status_code == 200
    assert _next(client, project).json()["draft"] == {"faithful": False}
    bad = client.put(
        f"/api/v1/projects/{project.pk}/drafts/{item_id}/",
        {"answers": {"helpfulness": 9}},
        format="json",
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["details"]["answers"]["helpfulness"]


def test_random_and_uncertainty_sampling(project, annotators):
    project_update(project=project, sampling="uncertainty", overlap=1)
    target = ProjectItem.objects.filter(project=project).order_by("-id").first()
    ProjectItem.objects.filter(pk=target.pk).update(uncertainty=0.99)
    assert item_next(project_id=project.pk, user=annotators[0]).project_item_id == target.pk
    project_update(project=project, sampling="random")
    got = item_next(project_id=project.pk, user=annotators[1]).project_item_id
    assert got != target.pk


def test_gold_items_rate_feedback_and_blocking(project, annotators):
    project_update(project=project, gold_rate=1.0, gold_min_answers=2, gold_block_below=0.5)
    result = project_items_upsert(
        project=project,
        records=[
            {
                "external_id": f"gold-{i}",
                "gold_answers": {"faithful": True},
                "conversations": [{"from": "human", "value": "Q?"}, {"from": "gpt", "value": "A"}],
            }
            for i in range(2)
        ],
    )
    assert [i["is_gold"] for i in result.items] == [True, True]
    client = client_for(annotators[0])
    wrong = {**good_answers(), "faithful": False}
    wrong.pop("best_answer")
    for _ in range(2):
        body = _next(client, project).json()
        assert body["assignment"]["is_gold"] is True
        r = submit(client, project.pk, body["item"]["id"], wrong)
        assert r.status_code == 201
        assert r.json()["gold_feedback"] == {"faithful": True}
    blocked = _next(client, project)
    assert blocked.status_code == 403
    assert blocked.json()["error"]["code"] == "annotator_blocked"


# Query counts with token authentication (its query included) inside the test's transaction
# (so transaction.atomic costs a SAVEPOINT and a RELEASE). SQLite runs the portable ORM path;
# PostgreSQL, where these tests run again (test_queue_postgres.py), its statements; the counts
# as production runs them (no surrounding transaction) are pinned there too.
NEXT_QUERIES = {
    # token + savepoint + membership lock + own lease + reclaim + pick + slot + insert + release
    "sqlite": (9, 6),  # renewal: token, savepoint, membership, own lease, renew, release
    # token + one round trip of two statements (membership lock and reclaim; renew, or pick and
    # take), new lease and renewal alike
    "postgresql": (2, 2),
}
SUBMIT_QUERIES = {
    # token + savepoint + membership (and "was this client_key used?") + own assignment with
    # its item + annotation + revision + assignment update + item counters + release;
    # a retry: token, savepoint, membership, revision, release
    "sqlite": (9, 5),
    # token + read + savepoint + write + release (a savepoint only inside a caller's
    # transaction); a retry: token + read
    "postgresql": (5, 2),
}


def token_client(user, secret: str | None = None) -> APIClient:
    """A client signed in with `secret`, or with a new token of `user`."""
    client = APIClient()
    if secret is None:
        _, secret = token_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client


def test_next_query_count_is_pinned(project, annotators, django_assert_num_queries):
    client = token_client(annotators[0])
    new, renewal = NEXT_QUERIES[connection.vendor]
    with django_assert_num_queries(new):
        assert _next(client, project).status_code == 200
    with django_assert_num_queries(renewal):
        assert _next(client, project).status_code == 200


def test_submit_query_count_is_pinned(project, annotators, django_assert_num_queries):
    client = token_client(annotators[0])
    item_id = _next(client, project).json()["item"]["id"]
    key = str(uuid.uuid4())
    first, retry = SUBMIT_QUERIES[connection.vendor]
    with django_assert_num_queries(first):
        assert submit(client, project.pk, item_id, key=key).status_code == 201
    # a retry is recognised by the first read and answered from the stored revision
    with django_assert_num_queries(retry):
        assert submit(client, project.pk, item_id, key=key).status_code == 200
