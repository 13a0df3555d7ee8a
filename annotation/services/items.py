"""Bulk upsert of items into a project, idempotent on the external id (posting twice is safe)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from annotation.models import Project, ProjectItem
from annotation.services.projects import RANDOM_MODULUS, RANDOM_MULTIPLIER
from annotation.services.rubric import AnswersInvalid, answers_clean, rule_keys_for
from core.errors import DomainError
from corpora.services.items import corpus_items_upsert

MAX_BULK = 5000


@dataclass
class BulkResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    items: list[dict[str, Any]] = field(default_factory=list)


@transaction.atomic
def project_items_upsert(
    *, project: Project, records: list[dict[str, Any]], corpus_id: int | None = None
) -> BulkResult:
    """Create or update items by external id in one of the project's corpora, add them to the
    project, and mark gold items (`gold_answers`, checked against the rubric)."""
    if not records:
        raise DomainError("empty", "Give at least one item.")
    if len(records) > MAX_BULK:
        raise DomainError("too_many", f"At most {MAX_BULK} items per request.")
    corpora = {c.pk: c for c in project.corpora.all()}
    corpus = corpora.get(corpus_id) if corpus_id else next(iter(corpora.values()), None)
    if corpus is None:
        raise DomainError("invalid_corpus", "The corpus is not one of the project's corpora.")
    upserted = corpus_items_upsert(corpus=corpus, records=records)
    result = BulkResult(
        created=upserted.created, updated=upserted.updated, unchanged=upserted.unchanged
    )
    questions = project.rubric.questions
    rule_keys = rule_keys_for(project)
    gold_errors: dict[str, Any] = {}
    touched = list(zip(upserted.items, records, strict=True))
    for item, record in touched:
        if record.get("gold_answers") is not None:
            try:
                answers_clean(
                    questions=questions,
                    answers=record["gold_answers"],
                    item=item,
                    rule_keys=rule_keys,
                    partial=True,
                )
            except AnswersInvalid as exc:
                gold_errors[record["external_id"]] = exc.errors
    if gold_errors:
        raise DomainError(
            "invalid_gold",
            "Some gold answers do not fit the rubric.",
            details={"items": gold_errors},
        )
    pitems = {
        p.item_id: p
        for p in ProjectItem.objects.filter(project=project, item__in=[i for i, _ in touched])
    }
    for item, record in touched:
        pitem = pitems.get(item.pk)
        gold = record.get("gold_answers")
        if pitem is None:
            pitem = ProjectItem.objects.create(
                project=project,
                item=item,
                open_slots=project.overlap,
                random_key=(item.pk * RANDOM_MULTIPLIER + project.pk * 40503) % RANDOM_MODULUS,
                is_gold=gold is not None,
                gold_answers=gold,
                uncertainty=record.get("uncertainty"),
            )
        elif gold is not None or record.get("uncertainty") is not None:
            if gold is not None:
                pitem.is_gold, pitem.gold_answers = True, gold
            if record.get("uncertainty") is not None:
                pitem.uncertainty = record["uncertainty"]
            pitem.save(update_fields=["is_gold", "gold_answers", "uncertainty"])
        result.items.append(
            {"id": item.pk, "external_id": item.external_id, "is_gold": pitem.is_gold}
        )
    return result
