"""Model pre-labels ("suggestions") attached to items."""

from __future__ import annotations

from typing import Any

from annotation.models import Suggestion
from corpora.models import Item


def suggestions_add(*, item: Item, suggestions: list[dict[str, Any]]) -> list[Suggestion]:
    return Suggestion.objects.bulk_create(
        Suggestion(
            item=item,
            question_key=s["question_key"],
            value=s["value"],
            score=s.get("score"),
            model_version=s["model_version"],
        )
        for s in suggestions
    )
