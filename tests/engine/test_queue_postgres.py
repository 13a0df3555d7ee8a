"""The queue's behaviour tests again on PostgreSQL, where `next` and submit run their own
statements (annotation/services/queue_postgres.py), and the query counts as production runs
them: outside any surrounding transaction, with token authentication."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from annotation.models import Assignment
from core.services.tokens import token_create
from tests.engine.conftest import submit
from tests.engine.test_queue import *  # noqa: F403 - the same tests, collected again here
from tests.engine.test_queue import _next, token_client
from tests.engine.test_queue_prefetch import *  # noqa: F403
from tests.engine.test_submit import *  # noqa: F403

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture(autouse=True)
def _on_postgresql() -> None:
    assert connection.vendor == "postgresql", "run with DATABASE_URL=postgres://... (integration)"


@pytest.mark.django_db(transaction=True)
def test_next_is_two_round_trips_and_three_statements(project, annotators):
    client = token_client(annotators[0])
    for _ in ("new lease", "renewal"):
        with CaptureQueriesContext(connection) as queries:
            assert _next(client, project).status_code == 200
        # token + user + membership; then, in one round trip and one implicit transaction, lock
        # the membership and reclaim lapsed leases; renew, or pick and take. No BEGIN, no COMMIT.
        sent = [q["sql"] for q in queries.captured_queries]
        assert len(sent) == 2
        assert [sql.count(";") + 1 for sql in sent] == [1, 2]


@pytest.mark.django_db(transaction=True)
def test_submit_is_three_statements_and_a_retry_two(project, annotators, django_assert_num_queries):
    client = token_client(annotators[0])
    item_id = _next(client, project).json()["item"]["id"]
    key = str(uuid.uuid4())
    # token + user + membership; read (assignment, item, rubric, key seen?); one write
    with django_assert_num_queries(3):
        assert submit(client, project.pk, item_id, key=key).status_code == 201
    # the read finds the key: answered from it
    with django_assert_num_queries(2):
        assert submit(client, project.pk, item_id, key=key).status_code == 200
    # an edit (a new revision) is one write too
    with django_assert_num_queries(3):
        edited = submit(client, project.pk, item_id)
    assert edited.status_code == 200 and edited.json()["revision"] == 2


def test_every_next_statement_is_short_enough_for_psycopgs_parse_cache():
    from psycopg._queries import MAX_CACHED_STATEMENT_LENGTH

    from annotation.services.queue_postgres import _next_sql

    for gold_first in (False, True):
        for sampling in ("sequential", "random", "uncertainty"):
            for requeue_skipped in (False, True):
                sql = _next_sql(
                    gold_first=gold_first, sampling=sampling, requeue_skipped=requeue_skipped
                )
                assert len(sql) <= MAX_CACHED_STATEMENT_LENGTH


@pytest.mark.django_db(transaction=True)
def test_concurrent_tabs_of_one_annotator_share_one_lease(project, annotators):
    # given two tabs of one annotator asking at the same moment, several times over
    user = annotators[0]
    _, secret = token_create(user=user)
    client = token_client(user, secret)

    def tab(start: threading.Barrier, got: list[int]) -> None:
        own_client = token_client(user, secret)  # a client per thread, the same token
        start.wait()
        try:
            got.append(_next(own_client, project).json()["assignment"]["id"])
        finally:
            connections.close_all()

    for _ in range(5):
        start, got = threading.Barrier(2), []
        tabs = [threading.Thread(target=tab, args=(start, got)) for _ in range(2)]
        for t in tabs:
            t.start()
        for t in tabs:
            t.join(timeout=30)
        # then both get the same lease: the second waited on the first's membership lock
        assert len(got) == 2 and got[0] == got[1]
        item_id = _next(client, project).json()["item"]["id"]
        assert submit(client, project.pk, item_id).status_code == 201
    assert Assignment.objects.filter(user=user, status="leased").count() == 0
