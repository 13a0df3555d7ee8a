"""Writes of corpora themselves (their items come in through corpus_import)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from core.errors import DomainError
from corpora.models import Corpus


def corpus_create(*, name: str, description: str = "", created_by: AbstractBaseUser) -> Corpus:
    if Corpus.objects.filter(name=name).exists():
        raise DomainError("conflict", "A corpus with this name exists.", status=409)
    return Corpus.objects.create(name=name, description=description, created_by=created_by)


def corpus_get_or_create(*, name: str) -> Corpus:
    """The corpus of that name, created empty if there is none (the headless `curate` command)."""
    corpus, _ = Corpus.objects.get_or_create(name=name)
    return corpus


def corpus_lock_for_work(*, corpus_id: int) -> None:
    """Inside the transaction that queues work on a corpus (an import, a scoring): lock its row
    and refuse if a deletion has started. Deletion takes the same lock before it checks for
    queued work, so the two cannot both go ahead."""
    locked = Corpus.objects.select_for_update().filter(pk=corpus_id, deleting=False).exists()
    if not locked:
        raise DomainError("not_found", "Not found.", status=404)
