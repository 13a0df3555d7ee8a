"""Helpers for the curation and export benchmarks: a synthetic LLaVA-like corpus in the DB."""

from __future__ import annotations

import random
import uuid

WORDS = [
    "the",
    "a",
    "cat",
    "dog",
    "man",
    "woman",
    "street",
    "car",
    "red",
    "blue",
    "green",
    "table",
    "kitchen",
    "window",
    "people",
    "standing",
    "sitting",
    "holding",
    "looking",
    "near",
    "next",
    "to",
    "large",
    "small",
    "bright",
    "dark",
]


def answer(rng: random.Random, words: int = 100) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)) + "."


def synthetic_corpus(n_items: int, *, seed: int = 0, batch: int = 5000):
    """A corpus of `n_items` two-turn items (~100-word answers), written in bulk."""
    from corpora.models import Corpus, Item

    rng = random.Random(seed)
    corpus = Corpus.objects.create(name=f"bench-{uuid.uuid4().hex[:8]}", version=1)
    categories = ("conversation", "detail", "complex_reasoning")
    for start in range(0, n_items, batch):
        Item.objects.bulk_create(
            [
                Item(
                    corpus=corpus,
                    external_id=f"{i:012d}",
                    image_path=f"coco/train2017/{i % 80000:012d}.jpg",
                    conversations=[
                        {"from": "human", "value": f"<image>\nWhat is in picture {i}?"},
                        {"from": "gpt", "value": answer(rng)},
                    ],
                    category=categories[i % 3],
                    content_hash=f"{i:064x}",
                )
                for i in range(start, min(n_items, start + batch))
            ]
        )
    return corpus
