"""factory_boy factories shared by the test suite."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from corpora.models import Corpus


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.org")
    password = factory.PostGenerationMethodCall("set_password", "pass-word-123")


class StaffFactory(UserFactory):
    is_staff = True
    username = factory.Sequence(lambda n: f"staff{n}")


class CorpusFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Corpus

    name = factory.Sequence(lambda n: f"corpus-{n}")


# --- annotation engine -------------------------------------------------------------------------
from corpora.models import Item  # noqa: E402


class ItemFactory(factory.django.DjangoModelFactory):
    """An item with one question and three candidate answers scored like formats.md."""

    class Meta:
        model = Item

    corpus = factory.SubFactory(CorpusFactory)
    external_id = factory.Sequence(lambda n: f"item-{n:06d}")
    category = "conversation"
    has_candidates = True
    content_hash = factory.Sequence(lambda n: f"{n:064d}")
    conversations = factory.LazyFunction(
        lambda: [
            {"from": "human", "value": "<image>\nWhat is in the park?"},
            {"from": "gpt", "value": ["cand 0", "cand 1", "cand 2"], "score": [0.6, 0.8, 0.6]},
        ]
    )
