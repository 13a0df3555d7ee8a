"""Writes of single items through the API (bulk files go through corpus_import)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from core.errors import DomainError
from corpora.models import Corpus, CorpusImage, Item


@dataclass
class ItemsUpserted:
    items: list[Item] = field(default_factory=list)  # in the order of the records
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def _hash(record: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def _has_candidates(conversations: list, questions: Any) -> bool:
    return any(isinstance(t.get("value"), list) for t in conversations) or bool(questions)


def corpus_items_upsert(*, corpus: Corpus, records: list[dict[str, Any]]) -> ItemsUpserted:
    """Create or update items of `corpus` by `external_id`; an unchanged record writes nothing.

    A record holds `external_id`, `conversations` and optionally `questions`, `score`,
    `image_path` (a path the corpus already stored an image for) and `category`. Call it inside
    the caller's transaction: it does not open one of its own.
    """
    external_ids = [r["external_id"] for r in records]
    if len(set(external_ids)) != len(external_ids):
        raise DomainError("duplicate_external_id", "An external_id appears twice in the request.")
    existing = {
        i.external_id: i for i in Item.objects.filter(corpus=corpus, external_id__in=external_ids)
    }
    paths = {r.get("image_path") for r in records if r.get("image_path")}
    assets = dict(
        CorpusImage.objects.filter(corpus=corpus, path__in=paths).values_list("path", "asset_id")
    )
    result = ItemsUpserted()
    for record in records:
        canonical = {
            "conversations": record["conversations"],
            "questions": record.get("questions"),
            "score": record.get("score"),
            "image": record.get("image_path") or None,
            "category": record.get("category", ""),
        }
        digest = _hash(canonical)
        item = existing.get(record["external_id"])
        fields = {
            "conversations": record["conversations"],
            "questions": record.get("questions"),
            "question_scores": record.get("score"),
            "category": record.get("category", ""),
            "image_path": record.get("image_path", ""),
            "image_id": assets.get(record.get("image_path")),
            "has_candidates": _has_candidates(record["conversations"], record.get("questions")),
            "content_hash": digest,
        }
        if item is None:
            item = Item.objects.create(corpus=corpus, external_id=record["external_id"], **fields)
            result.created += 1
        elif item.content_hash != digest:
            for name, value in fields.items():
                setattr(item, name, value)
            item.save()
            result.updated += 1
        else:
            result.unchanged += 1
        result.items.append(item)
    return result
