"""corpus_items_upsert: idempotent on the external id, images by the corpus's stored paths."""

from __future__ import annotations

import pytest

from core.errors import DomainError
from corpora.models import CorpusImage, ImageAsset, Item
from corpora.services.items import corpus_items_upsert
from tests.factories import CorpusFactory

pytestmark = pytest.mark.django_db

TURNS = [{"from": "human", "value": "<image>\nWhat?"}, {"from": "gpt", "value": ["a", "b"]}]


def test_upsert_creates_updates_and_leaves_unchanged_items_alone():
    # given
    corpus = CorpusFactory()
    asset = ImageAsset.objects.create(
        sha256="b" * 64, file="x.png", format="PNG", width=1, height=1, size_bytes=1
    )
    CorpusImage.objects.create(corpus=corpus, path="p/1.png", asset=asset)
    records = [
        {"external_id": "1", "conversations": TURNS, "image_path": "p/1.png"},
        {"external_id": "2", "conversations": TURNS[:1], "category": "c"},
    ]
    # when
    first = corpus_items_upsert(corpus=corpus, records=records)
    again = corpus_items_upsert(
        corpus=corpus, records=[records[0], {**records[1], "category": "d"}]
    )
    # then
    assert (first.created, first.updated, first.unchanged) == (2, 0, 0)
    assert (again.created, again.updated, again.unchanged) == (0, 1, 1)
    assert [item.external_id for item in again.items] == ["1", "2"]
    one, two = Item.objects.filter(corpus=corpus).order_by("external_id")
    assert one.image == asset and one.has_candidates and not two.has_candidates
    assert two.category == "d"


def test_a_repeated_external_id_is_refused_before_any_write():
    corpus = CorpusFactory()
    record = {"external_id": "1", "conversations": TURNS}
    with pytest.raises(DomainError) as raised:
        corpus_items_upsert(corpus=corpus, records=[record, record])
    assert raised.value.code == "duplicate_external_id"
    assert not Item.objects.exists()
