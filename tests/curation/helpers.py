"""Small corpora, tiny encoders and eager Celery for the curation tests."""

from __future__ import annotations

import random
from pathlib import Path

from annotation.models import Annotation, Project, ProjectItem
from corpora.models import Corpus, Item
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


def candidate_corpus(
    name: str, n_items: int = 120, seed: int = 0, n_plain: int | None = None
) -> Corpus:
    """Text-only candidate-rich items: 'good' candidates score higher than 'bad' ones; then
    `n_plain` (default half as many) items with one plain answer, good or bad."""
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
        for i in range(n_items // 2 if n_plain is None else n_plain)
    ]
    Item.objects.bulk_create(items + plain)
    return corpus


def rate_plain_items(project: Project, n_annotators: int = 3, flip: float = 0.1) -> int:
    """Simulated annotators answer the instruction-quality rubric for the plain items: a good
    answer is faithful and rated 4-5, a bad one 1-2; each answer is flipped with `flip`."""
    from django.contrib.auth import get_user_model

    rng = random.Random(1)
    users = [
        get_user_model().objects.create(username=f"rater-{project.pk}-{k}")
        for k in range(n_annotators)
    ]
    rows = []
    pitems = ProjectItem.objects.filter(project=project, item__has_candidates=False)
    for pitem in pitems.select_related("item"):
        good = pitem.item.conversations[1]["value"] in GOOD
        for user in users:
            faithful = good != (rng.random() < flip)
            rating = rng.choice((4, 5) if good != (rng.random() < flip) else (1, 2))
            answers = {"faithful": faithful, "no_hallucination": faithful, "answerable": True}
            answers.update(helpfulness=rating, clarity=rating, detail=rating)
            rows.append(
                Annotation(
                    project=project,
                    project_item=pitem,
                    item_id=pitem.item_id,
                    user=user,
                    answers=answers,
                )
            )
    Annotation.objects.bulk_create(rows)
    return len(rows)
