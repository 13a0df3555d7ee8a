from __future__ import annotations

from django.db.models import Count, QuerySet

from core.errors import DomainError
from corpora.models import Corpus


def corpus_list() -> QuerySet[Corpus]:
    return Corpus.objects.annotate(item_count=Count("items")).order_by("name")


def corpus_get(*, corpus_id: int, with_item_count: bool = False) -> Corpus:
    """The corpus, or a 404 domain error."""
    corpora = corpus_list() if with_item_count else Corpus.objects.all()
    corpus = corpora.filter(pk=corpus_id).first()
    if corpus is None:
        raise DomainError("not_found", "Not found.", status=404)
    return corpus
