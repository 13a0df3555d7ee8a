"""The queue's behaviour tests again on PostgreSQL, where `next` and submit run their own
statements (annotation/services/queue_postgres.py), and the query counts as production runs
them: outside any surrounding transaction, with token authentication."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection

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
def test_next_takes_four_statements_in_a_transaction_and_a_renewal_three(
    project, annotators, django_assert_num_queries
):
    client = token_client(annotators[0])
    # token + user + membership; BEGIN; lock the membership; renew or reclaim; pick and take;
    # COMMIT
    with django_assert_num_queries(6):
        assert _next(client, project).status_code == 200
    # token + user + membership; BEGIN; lock the membership; renew; COMMIT
    with django_assert_num_queries(5):
        assert _next(client, project).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_submit_takes_three_statements_and_no_transaction_and_a_retry_two(
    project, annotators, django_assert_num_queries
):
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
