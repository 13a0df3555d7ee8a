"""Seed data for browser tests, screenshots and the UI benchmark: a corpus with real images
(imported through the engine's own import service) and a project whose rubric has every
control type."""

from __future__ import annotations

import json
import random
from pathlib import Path

from django.contrib.auth import get_user_model
from PIL import Image, ImageDraw

from annotation.models import Project
from annotation.services.projects import constitution_set, member_set, project_create
from corpora.models import Corpus
from corpora.services.corpus_import import corpus_import

PASSWORD = "pass-word-123"
RULES = [
    {
        "key": "violence",
        "category": "violence",
        "severity": "high",
        "text": "Images must not dwell on graphic injury.",
        "objectified": "The image shows blood from wounds or a person being hurt.",
        "preconditions": [],
    },
    {
        "key": "privacy",
        "category": "privacy",
        "severity": "medium",
        "text": "Images must not expose private documents.",
        "objectified": "A readable ID card, passport or bank card is visible.",
        "preconditions": ["Is there any text in the image?"],
    },
]
QUESTIONS = [
    {
        "key": "quality",
        "type": "rating",
        "prompt": "Overall quality of the answer",
        "required": True,
        "labels": [
            {"value": v, "label": t}
            for v, t in enumerate(["Useless", "Poor", "Acceptable", "Good", "Excellent"], 1)
        ],
    },
    {
        "key": "faithful",
        "type": "binary",
        "prompt": "Is the answer faithful to the image?",
        "required": True,
        "objective": True,
    },
    {
        "key": "issues",
        "type": "multi_label",
        "prompt": "Issues",
        "required": False,
        "options": ["hallucination", "incomplete", "off-topic"],
    },
    {"key": "pair", "type": "pairwise", "prompt": "Which candidate is better?", "required": True},
    {
        "key": "rank",
        "type": "ranking",
        "prompt": "Rank the candidates, best first",
        "required": True,
    },
    {
        "key": "safety",
        "type": "rule_verdict",
        "prompt": "Does the image violate a rule?",
        "required": True,
        "objective": True,
    },
    {"key": "why", "type": "text", "prompt": "Rationale (optional)", "required": False},
]
SHAPES = ["circle", "square", "triangle"]
COLORS = {"red": (214, 60, 50), "blue": (50, 100, 214), "green": (40, 160, 90)}


def has_candidates(external_id: str) -> bool:
    return int(external_id) % 4 == 0


def _image(path: Path, shape: str, color: tuple[int, int, int]) -> None:
    img = Image.new("RGB", (320, 240), (245, 245, 240))
    draw = ImageDraw.Draw(img)
    box = (100, 60, 220, 180)
    if shape == "circle":
        draw.ellipse(box, fill=color)
    elif shape == "square":
        draw.rectangle(box, fill=color)
    else:
        draw.polygon([(160, 55), (225, 180), (95, 180)], fill=color)
    img.save(path)


def write_corpus(folder: Path, n_items: int) -> Path:
    rng = random.Random(0)
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    records = []
    for i in range(n_items):
        shape, (cname, color) = rng.choice(SHAPES), rng.choice(list(COLORS.items()))
        name = f"{i}.png"
        _image(images / name, shape, color)
        answer = f"The image shows a **{cname} {shape}** on a light background."
        value: str | list[str] = answer
        rec: dict = {"id": str(i), "image": name}
        if has_candidates(str(i)):
            value = [answer, f"A {cname} object, probably a `{shape}`.", "There are two dogs."]
            rec["conversations"] = [
                {"from": "human", "value": "<image>\nWhat shape is in the image?"},
                {"from": "gpt", "value": value, "score": [0.9, 0.6, 0.1]},
            ]
        else:
            rec["conversations"] = [
                {"from": "human", "value": "<image>\nDescribe the image."},
                {"from": "gpt", "value": answer},
                {"from": "human", "value": "What colour is it? <b>bold?</b>"},
                {"from": "gpt", "value": f"It is {cname}.\n\n- one shape\n- no text"},
            ]
        records.append(rec)
    source = folder / "detail.json"
    source.write_text(json.dumps(records))
    return source


def seed(
    folder: Path, *, n_items: int = 20, overlap: int = 1, name: str = "Shapes", suffix: str = ""
) -> dict:
    """Corpus + project (all control types) + an owner, two annotators and a reviewer."""
    User = get_user_model()
    owner = User.objects.create_user(f"owner{suffix}", password=PASSWORD, is_staff=True)
    annotators = [User.objects.create_user(f"ann{i}{suffix}", password=PASSWORD) for i in (1, 2)]
    reviewer = User.objects.create_user(f"rev{suffix}", password=PASSWORD)
    corpus = Corpus.objects.create(name=f"{name}-corpus")
    corpus_import(corpus=corpus, source=write_corpus(folder, n_items), images=folder / "images")
    project: Project = project_create(
        name=name,
        corpora=[corpus],
        created_by=owner,
        questions=QUESTIONS,
        preset=None,
        overlap=overlap,
        instructions="Judge the answer **against the image**.",
    )
    constitution_set(project=project, rules=RULES, name="v1", created_by=owner)
    for user in annotators:
        member_set(project=project, user_id=user.pk, role="annotator")
    member_set(project=project, user_id=reviewer.pk, role="reviewer")
    return {
        "project": project,
        "owner": owner,
        "annotators": annotators,
        "reviewer": reviewer,
        "corpus": corpus,
    }
