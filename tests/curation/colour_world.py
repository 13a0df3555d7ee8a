"""A small image project for the VLM recipe: solid-colour images, an answer that names a
colour (right or wrong), three simulated annotators who rate it on the instruction rubric and
judge one safety rule ("no-red": the image must not be red)."""

from __future__ import annotations

import hashlib
import io
import random
from pathlib import Path

from django.conf import settings

from annotation.models import Annotation, Project, ProjectItem
from annotation.presets import rubric_preset
from annotation.services.projects import constitution_set, project_create
from corpora.models import Corpus, ImageAsset, Item
from tests.tiny_vlms import COLOURS, colour_image

RULE = {
    "key": "no-red",
    "text": "The image must not be red.",
    "category": "proxy",
    "preconditions": ["a red image"],
    "central_objects": ["image"],
}
SAFETY_QUESTION = {
    "key": "safety",
    "type": "rule_verdict",
    "prompt": "For each rule: does the image violate it?",
    "required": False,
    "objective": True,
    "criterion": "safety",
}


def _asset(colour: str, seed: int) -> ImageAsset:
    buffer = io.BytesIO()
    colour_image(colour, seed=seed).save(buffer, "PNG")
    data = buffer.getvalue()
    sha = hashlib.sha256(data).hexdigest()
    stored = Path(settings.MEDIA_ROOT) / "images" / f"{sha}.png"
    stored.parent.mkdir(parents=True, exist_ok=True)
    stored.write_bytes(data)
    asset, _ = ImageAsset.objects.get_or_create(
        sha256=sha,
        defaults={"file": f"images/{sha}.png", "format": "PNG", "width": 32, "height": 32,
                  "size_bytes": len(data)},
    )  # fmt: skip
    return asset


def colour_project(name: str, *, n_items: int = 32, owner=None, seed: int = 0) -> Project:
    """The project, its items rated by three annotators (each answer flipped with p=0.1)."""
    from django.contrib.auth import get_user_model

    rng = random.Random(seed)
    corpus = Corpus.objects.create(name=f"{name}-colours", version=1)
    for i in range(n_items):
        shown = COLOURS[i % len(COLOURS)]
        said = shown if rng.random() < 0.5 else rng.choice([c for c in COLOURS if c != shown])
        Item.objects.create(
            corpus=corpus,
            external_id=f"{name}-{i:03d}",
            image=_asset(shown, seed * 1000 + i),
            image_path=f"{i}.png",
            conversations=[
                {"from": "human", "value": "<image>\nwhat colour is the image ?"},
                {"from": "gpt", "value": f"it is {said}"},
            ],
            category="conversation",
            content_hash=hashlib.sha256(f"{name}-{i}".encode()).hexdigest(),
        )
    questions = [*rubric_preset("instruction_quality"), SAFETY_QUESTION]
    project = project_create(name=name, corpora=[corpus], created_by=owner, questions=questions)
    constitution_set(project=project, rules=[RULE], name="colours", created_by=owner)
    users = [get_user_model().objects.create(username=f"{name}-rater-{k}") for k in range(3)]
    rows = []
    for pitem in ProjectItem.objects.filter(project=project).select_related("item__image"):
        said = pitem.item.conversations[1]["value"].split()[-1]
        shown = COLOURS[int(pitem.item.external_id.rsplit("-", 1)[1]) % len(COLOURS)]
        for user in users:
            right = (said == shown) != (rng.random() < 0.1)
            rating = rng.choice((4, 5) if right else (1, 2))
            red = (shown == "red") != (rng.random() < 0.1)
            answers = {
                "faithful": right, "no_hallucination": right, "answerable": True,
                "helpfulness": rating, "clarity": rating, "detail": rating,
                "safety": {"no-red": {"verdict": "violates" if red else "does_not_violate",
                                      "rationale": ""}},
            }  # fmt: skip
            rows.append(Annotation(project=project, project_item=pitem,
                                   item_id=pitem.item_id, user=user, answers=answers))  # fmt: skip
    Annotation.objects.bulk_create(rows)
    return project
