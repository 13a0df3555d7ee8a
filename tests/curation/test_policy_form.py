"""The curation page embeds the policy schema for its form; preview samples carry image URLs."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from corpora.models import Corpus, ImageAsset, Item
from curation.selectors.scores import item_summaries
from curation.services.curation import PRESETS, curation_policy_schema, policy_expand

pytestmark = pytest.mark.django_db


def test_curation_page_embeds_the_policy_schema(project, staff) -> None:
    client = Client()
    client.force_login(staff)
    body = client.get(f"/projects/{project.pk}/curation/").content.decode()
    embedded = re.search(r'<script id="policy-schema" type="application/json">(.*?)</script>', body)
    assert embedded, "the schema is passed with json_script"
    schema = json.loads(embedded.group(1))
    assert schema == json.loads(json.dumps(curation_policy_schema()))
    assert "curation.js" in body and "<textarea" in body


def test_every_preset_and_base_name_in_the_schema_is_valid() -> None:
    schema = curation_policy_schema()
    assert set(schema["presets"]) == set(PRESETS)
    for name in schema["presets"]:
        policy_expand(name)
    assert "overall" in schema["scores"] and "unsafe" in schema["flags"]


def test_sample_summaries_carry_the_image_url(settings) -> None:
    corpus = Corpus.objects.create(name="c")
    asset = ImageAsset.objects.create(
        sha256="a" * 64, file="images/aa/a.png", format="png", width=1, height=1, size_bytes=1
    )
    conversations = [{"from": "human", "value": "<image>\nQ?"}, {"from": "gpt", "value": "A"}]
    with_image = Item.objects.create(
        corpus=corpus, external_id="1", image=asset, conversations=conversations, content_hash="1"
    )
    without = Item.objects.create(
        corpus=corpus, external_id="2", conversations=conversations, content_hash="2"
    )
    summaries = item_summaries([with_image.pk, without.pk])
    assert summaries[with_image.pk]["image_url"] == f"{settings.MEDIA_URL}images/aa/a.png"
    assert summaries[without.pk]["image_url"] is None
    assert summaries[with_image.pk]["question"] == "Q?"
