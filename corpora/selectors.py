from __future__ import annotations

from typing import Any

from django.db.models import Count, QuerySet

from core.access import access_policy
from core.errors import DomainError
from corpora.models import Corpus, Item


def _visible(corpora: QuerySet[Corpus], user: Any | None) -> QuerySet[Corpus]:
    """Staff see every corpus; anyone else only the corpora of projects they are a member of
    (the rule comes from core's access policy: corpora knows nothing of projects)."""
    corpora = corpora.filter(deleting=False)  # being deleted: gone for everyone already
    if user is None:
        return corpora
    ids = access_policy().visible_corpus_ids(user=user)
    return corpora if ids is None else corpora.filter(pk__in=ids)


def corpus_list(*, user: Any | None = None) -> QuerySet[Corpus]:
    """Corpora with their item counts, by name; only those `user` may see when given."""
    return _visible(Corpus.objects.annotate(item_count=Count("items")), user).order_by("name")


def corpus_get(*, corpus_id: int, user: Any | None = None, with_item_count: bool = False) -> Corpus:
    """The corpus, or a 404 domain error (also when `user` may not see it: same answer)."""
    corpora = corpus_list(user=user) if with_item_count else _visible(Corpus.objects.all(), user)
    corpus = corpora.filter(pk=corpus_id).first()
    if corpus is None:
        raise DomainError("not_found", "Not found.", status=404)
    return corpus


def corpora_by_ids(*, ids: list[int], user: Any | None = None) -> list[Corpus]:
    """The corpora of those ids (only those `user` may see, when given)."""
    return list(_visible(Corpus.objects.filter(pk__in=ids), user))


def item_get(*, item_id: int) -> Item | None:
    return Item.objects.filter(pk=item_id).first()


def items_readable(*, ids: list[int], user: Any) -> dict[int, Item]:
    """The items of those ids that `user` may read (in a corpus they see), with their images."""
    visible = _visible(Corpus.objects.all(), user)
    items = Item.objects.filter(pk__in=ids, corpus__in=visible).select_related("image")
    return {item.pk: item for item in items}
