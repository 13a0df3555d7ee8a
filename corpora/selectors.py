from __future__ import annotations

from django.db.models import Count, QuerySet

from corpora.models import Corpus


def corpus_list() -> QuerySet[Corpus]:
    return Corpus.objects.annotate(item_count=Count("items")).order_by("name")
