"""Prefetch: asking `next` with the held item excluded leases a second item."""

from __future__ import annotations

import pytest

from annotation.models import Assignment

pytestmark = pytest.mark.django_db

from tests.engine.conftest import client_for, submit  # noqa: E402


def _next(client, project_id: int, exclude: list[int] | None = None):
    body = {"exclude": exclude} if exclude is not None else {}
    return client.post(f"/api/v1/projects/{project_id}/next/", body, format="json")


def test_prefetch_leases_a_second_item_and_keeps_it(project, annotators):
    client = client_for(annotators[0])
    held = _next(client, project.pk).json()["item"]["id"]
    # given the held item, asking with it excluded leases another one
    prefetched = _next(client, project.pk, exclude=[held]).json()["item"]["id"]
    assert prefetched != held
    # asking again with the same exclusion renews that prefetched lease, never a third item
    assert _next(client, project.pk, exclude=[held]).json()["item"]["id"] == prefetched
    assert Assignment.objects.filter(user=annotators[0], status="leased").count() == 2
    # after submitting the held item, a plain `next` serves the prefetched one
    assert submit(client, project.pk, held).status_code == 201
    assert _next(client, project.pk).json()["item"]["id"] == prefetched


def test_prefetch_exclusions_are_bounded(project, annotators):
    response = _next(client_for(annotators[0]), project.pk, exclude=[1, 2, 3])
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
