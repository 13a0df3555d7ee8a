"""Corpus deletion on PostgreSQL: a few thousand items in small batches, each batch committed
on its own (another connection sees the corpus shrink while the job runs)."""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection

from annotation.models import Annotation, ProjectItem
from corpora.models import Corpus, Item
from corpora.services.corpus_delete import corpus_delete
from curation.models import DatasetItem, ItemScore
from tests.corpora.deletion_world import deletion_world

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
N_ITEMS = 3000
BATCH = 400


@pytest.fixture(autouse=True)
def _postgres():
    if connection.vendor != "postgresql":
        pytest.fail("needs PostgreSQL: run it with make test-integration")


def _other_connection() -> psycopg.Connection:
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    return psycopg.connect(**params, autocommit=True)


def test_a_large_corpus_is_deleted_in_committed_batches():
    # given a corpus of a few thousand items, each in a project, annotated, scored, curated
    world = deletion_world(n_items=N_ITEMS)
    doomed = world.doomed.pk
    observed: list[tuple[int, int]] = []
    with _other_connection() as other:

        def progress(current: int, total: int, message: str) -> None:
            # another session sees exactly what the batches so far deleted: each committed
            count = other.execute(
                f"SELECT COUNT(*) FROM {Item._meta.db_table} WHERE corpus_id = %s", [doomed]
            ).fetchone()[0]
            observed.append((current, count))

        # when the corpus is deleted in small batches
        counts = corpus_delete(corpus_id=doomed, batch_size=BATCH, progress=progress)
    # then every batch was committed on its own, items first, then image links
    n_batches = -(-N_ITEMS // BATCH)
    assert counts == {"items": N_ITEMS, "image_links": 2, "images": 1}
    assert [current for current, _ in observed[:n_batches]] == [
        min((i + 1) * BATCH, N_ITEMS) for i in range(n_batches)
    ]
    assert all(current + left == N_ITEMS for current, left in observed)
    # and what depended on the corpus is gone, the other corpus is whole
    assert not Corpus.objects.filter(pk=doomed).exists()
    assert Item.objects.count() == ProjectItem.objects.count() == N_ITEMS
    assert Annotation.objects.count() == ItemScore.objects.count() == N_ITEMS
    assert DatasetItem.objects.count() == N_ITEMS
    # and deleting again is a no-op
    assert corpus_delete(corpus_id=doomed)["items"] == 0
