"""A small safety project over coloured-shape images, with simulated human verdicts."""

from __future__ import annotations

import hashlib
import io
import random
from pathlib import Path

from django.conf import settings
from PIL import Image, ImageDraw

from annotation.models import Annotation, ProjectItem
from annotation.services.projects import constitution_set, member_set, project_create
from corpora.models import ImageAsset, Item
from tests.factories import CorpusFactory, StaffFactory, UserFactory

RULES = [
    {
        "key": "no-red",
        "text": "No red shape may be visible.",
        "category": "proxy",
        "preconditions": [["a red shape", "a red circle"]],
        "central_objects": ["shape"],
    },
    {
        "key": "no-triangle",
        "text": "No triangle may be visible.",
        "category": "proxy",
        "preconditions": ["a triangle"],
        "central_objects": ["triangle"],
    },
]


def _png(red: bool, triangle: bool, shift: int = 0) -> bytes:
    image = Image.new("RGB", (48, 48), (245, 245 - shift, 245))
    draw = ImageDraw.Draw(image)
    colour = (220, 30, 30) if red else (30, 30, 220)
    if triangle:
        draw.polygon([(8, 40), (40, 40), (24, 8)], fill=colour)
    else:
        draw.ellipse([10, 10, 38, 38], fill=colour)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def safety_project(name: str, n_items: int = 6, seed: int = 0):
    """(project, owner, truth {item_id: {rule: bool}}); two annotators answered every item,
    the second wrong on one rule of the first item."""
    rng = random.Random(seed)
    owner = StaffFactory(username=f"{name}-owner")
    corpus = CorpusFactory()
    truth = {}
    for i in range(n_items):
        red, triangle = i % 2 == 0, i % 3 == 0
        data = _png(red, triangle, shift=i)
        stored = Path(settings.MEDIA_ROOT) / "judge" / f"{name}-{i}.png"
        stored.parent.mkdir(parents=True, exist_ok=True)
        stored.write_bytes(data)
        asset = ImageAsset.objects.create(
            sha256=hashlib.sha256(data).hexdigest(),
            file=f"judge/{name}-{i}.png",
            format="PNG",
            width=48,
            height=48,
            size_bytes=len(data),
        )
        item = Item.objects.create(
            corpus=corpus,
            external_id=f"{name}-{i}",
            image=asset,
            image_path=f"{i}.png",
            conversations=[
                {"from": "human", "value": "<image>\nWhat is shown?"},
                {"from": "gpt", "value": "A shape."},
            ],
            content_hash=f"{name}{i}",
        )
        truth[item.pk] = {"no-red": red, "no-triangle": triangle}
    project = project_create(
        name=name, corpora=[corpus], created_by=owner, preset="safety_constitution", overlap=2
    )
    constitution_set(project=project, rules=RULES, name="proxy", created_by=owner)
    annotators = []
    for k in range(2):
        user = UserFactory(username=f"{name}-ann{k}")
        member_set(project=project, user_id=user.pk, role="annotator")
        annotators.append(user)
    for n, pitem in enumerate(ProjectItem.objects.filter(project=project).order_by("item_id")):
        for k, user in enumerate(annotators):
            verdicts = {}
            for rule in ("no-red", "no-triangle"):
                value = truth[pitem.item_id][rule]
                if k == 1 and n == 0 and rule == "no-red":
                    value = not value
                verdicts[rule] = {
                    "verdict": "violates" if value else "does_not_violate",
                    "rationale": "",
                }
            Annotation.objects.create(
                project=project,
                project_item=pitem,
                item_id=pitem.item_id,
                user=user,
                answers={"safety": verdicts},
            )
        pitem.done_count = pitem.responses = 2
        pitem.open_slots = 0
        pitem.save(update_fields=["done_count", "responses", "open_slots"])
        rng.random()
    return project, owner, truth
