"""Small corpora, tiny encoders and eager Celery for the curation tests."""

from __future__ import annotations

import random
from pathlib import Path

from annotation.models import Corpus, Item
from tests.tiny_models import SPECIAL_TOKENS
from tests.tiny_models import tiny_bert as tiny_bert_with

GOOD = ["the red cat sat on the mat", "a red cat sat on a mat", "the cat sat on the red mat"]
BAD = ["blue dog blue dog", "the dog blue", "dog dog on blue"]
VOCAB = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    "human",
    "gpt",
    ":",
    "what",
    "is",
    "on",
    "the",
    "a",
    "mat",
    "red",
    "blue",
    "cat",
    "dog",
    "sat",
    "?",
]


def tiny_bert(path: Path) -> Path:
    """A random-init 2-layer BERT whose vocabulary covers the test texts."""
    return tiny_bert_with(path, VOCAB[len(SPECIAL_TOKENS) :])


def candidate_corpus(name: str, n_items: int = 120, seed: int = 0) -> Corpus:
    """Text-only candidate-rich items: 'good' candidates score higher than 'bad' ones."""
    rng = random.Random(seed)
    corpus = Corpus.objects.create(name=name, version=1)
    items = []
    for i in range(n_items):
        cands, scores = [], []
        for _ in range(3):
            good = rng.random() < 0.5
            cands.append(rng.choice(GOOD if good else BAD))
            scores.append(0.8 if good else 0.2)
        items.append(
            Item(
                corpus=corpus,
                external_id=f"c{i:04d}",
                conversations=[
                    {"from": "human", "value": "what is on the mat ?"},
                    {"from": "gpt", "value": cands, "score": scores},
                ],
                category="conversation" if i % 2 else "detail",
                has_candidates=True,
                content_hash=f"{i:064x}",
            )
        )
    plain = [
        Item(
            corpus=corpus,
            external_id=f"p{i:04d}",
            conversations=[
                {"from": "human", "value": "what is on the mat ?"},
                {"from": "gpt", "value": rng.choice(GOOD + BAD)},
            ],
            category="conversation",
            content_hash=f"{i + 10**6:064x}",
        )
        for i in range(n_items // 2)
    ]
    Item.objects.bulk_create(items + plain)
    return corpus
