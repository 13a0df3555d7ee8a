"""The reward model as a service for RL trainers: score a batch now, in the request.

`score/` takes (image, LLaVA conversation) entries; `openrlhf/` speaks OpenRLHF's remote reward
protocol. Both go through `curation.services.serving`, i.e. the batch scoring job's own code.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.errors import error_responses
from core.api.permissions import IsProjectReviewer
from core.errors import DomainError
from corpora.selectors import items_readable
from curation.api.common import RunApi
from curation.services.serving import (
    MAX_BATCH,
    MAX_IMAGE_BYTES,
    MAX_TEXT_CHARS,
    MAX_TURNS,
    ScoreEntry,
    entry_image_fetch,
    reward_model_score_batch,
)

# A LLaVA turn: {"from", "value"}; "from" is a Python keyword, so the class is built by type().
_TurnSerializer = type(
    "TurnSerializer",
    (serializers.Serializer,),
    {
        "from": serializers.ChoiceField(
            choices=["human", "gpt"], help_text="'human' or 'gpt' (LLaVA's roles)."
        ),
        "value": serializers.CharField(
            max_length=MAX_TEXT_CHARS,
            allow_blank=True,
            trim_whitespace=False,
            help_text=f"The message; at most {MAX_TEXT_CHARS} characters.",
        ),
    },
)


class _ImageSerializer(serializers.Serializer):
    base64 = serializers.CharField(
        required=False,
        help_text=f"The image file's bytes, base64 (JPEG, PNG, WebP, GIF, BMP; at most "
        f"{MAX_IMAGE_BYTES} bytes decoded).",
    )
    url = serializers.URLField(
        required=False,
        max_length=2000,
        help_text="An http(s) image URL the server fetches (public addresses only).",
    )
    item_id = serializers.IntegerField(
        required=False, help_text="An existing item whose image is used (a corpus you read)."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if len(attrs) != 1:
            raise serializers.ValidationError("Give exactly one of base64, url, item_id.")
        if "base64" in attrs:
            if len(attrs["base64"]) > MAX_IMAGE_BYTES * 4 // 3 + 4:
                raise serializers.ValidationError(f"The image is over {MAX_IMAGE_BYTES} bytes.")
            try:
                attrs["bytes"] = base64.b64decode(attrs.pop("base64"), validate=True)
            except (binascii.Error, ValueError) as exc:
                raise serializers.ValidationError("base64: not valid base64.") from exc
        return attrs


class _EntrySerializer(serializers.Serializer):
    image = _ImageSerializer(
        required=False, allow_null=True, help_text="Omitted or null: text only."
    )
    conversations = _TurnSerializer(
        many=True,
        min_length=1,
        max_length=MAX_TURNS,
        help_text=f"LLaVA turns, at most {MAX_TURNS}.",
    )


class _RewardSerializer(serializers.Serializer):
    reward = serializers.FloatField(help_text="The item's overall score, as batch scoring's.")
    criteria = serializers.DictField(
        child=serializers.FloatField(), help_text="Per-criterion scores (when the model has them)."
    )
    rules = serializers.DictField(
        child=serializers.FloatField(), help_text="Per-rule violation probabilities."
    )


def _entries(request: Request, rows: list[dict[str, Any]]) -> list[ScoreEntry]:
    """Resolve images: bytes as sent, URLs fetched, item ids looked up among readable corpora."""
    ids = [row["image"]["item_id"] for row in rows if "item_id" in (row.get("image") or {})]
    items = items_readable(ids=ids, user=request.user)
    entries = []
    for index, row in enumerate(rows):
        image = row.get("image") or {}
        conversations = [dict(turn) for turn in row["conversations"]]
        if "bytes" in image:
            entries.append(ScoreEntry(conversations, image_bytes=image["bytes"]))
        elif "url" in image:
            fetched = entry_image_fetch(url=image["url"])
            entries.append(ScoreEntry(conversations, image_bytes=fetched))
        elif "item_id" in image:
            item = items.get(image["item_id"])
            if item is None:
                raise DomainError(
                    "validation_error", f"entry {index}: no such item.", details={"entry": index}
                )
            entries.append(ScoreEntry(conversations, image=item.image if item.image_id else None))
        else:
            entries.append(ScoreEntry(conversations))
    return entries


class RewardModelScoreNowApi(RunApi):
    """Rewards for a batch, computed in the request (for RL trainers' reward functions)."""

    permission_classes = [IsProjectReviewer]

    class InputSerializer(serializers.Serializer):
        entries = _EntrySerializer(many=True, min_length=1, max_length=MAX_BATCH)

    class OutputSerializer(serializers.Serializer):
        rewards = _RewardSerializer(many=True, help_text="One per entry, in order.")

    @extend_schema(
        operation_id="reward_model_score_now",
        summary="Score a batch of (image, conversation) entries now",
        description=f"At most {MAX_BATCH} entries, {MAX_TURNS} turns each, {MAX_TEXT_CHARS} "
        "characters per message; the whole body at most DATA_UPLOAD_MAX_MEMORY_SIZE (10 MiB by "
        "default: send big images by item_id or url). Rewards equal the batch scoring job's "
        "for the same item (within 1e-5). Reviewers and owners of the model's project, and staff.",
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(400, 401, 403, 404, 409)},
        examples=[
            OpenApiExample(
                "A text-only entry and one with an item's image",
                request_only=True,
                value={
                    "entries": [
                        {
                            "conversations": [
                                {"from": "human", "value": "<image>\nWhat is on the mat?"},
                                {"from": "gpt", "value": "A red cat."},
                            ]
                        },
                        {
                            "image": {"item_id": 42},
                            "conversations": [
                                {"from": "human", "value": "<image>\nDescribe it."},
                                {"from": "gpt", "value": "A cat sits on a mat."},
                            ],
                        },
                    ]
                },
            ),
            OpenApiExample(
                "Rewards",
                response_only=True,
                value={
                    "rewards": [
                        {"reward": 0.73, "criteria": {"helpfulness": 0.8}, "rules": {"gore": 0.02}},
                        {"reward": 0.41, "criteria": {"helpfulness": 0.5}, "rules": {"gore": 0.01}},
                    ]
                },
            ),
        ],
    )
    def post(self, request: Request, run_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        entries = _entries(request, data.validated_data["entries"])
        rewards = reward_model_score_batch(run=self.run, entries=entries)
        return Response(
            {
                "rewards": [
                    {"reward": r.reward, "criteria": r.criteria, "rules": r.rules} for r in rewards
                ]
            }
        )


def openrlhf_conversation(query: str, prompt: str | None) -> list[dict[str, str]]:
    """OpenRLHF sends `query` = prompt + response (chat template applied) and the prompt apart:
    the prompt is the human turn and the rest the answer; with no matching prompt, the whole
    query is the answer to an empty question."""
    if prompt and query.startswith(prompt):
        return [{"from": "human", "value": prompt}, {"from": "gpt", "value": query[len(prompt) :]}]
    return [{"from": "human", "value": ""}, {"from": "gpt", "value": query}]


class RewardModelOpenRlhfApi(RunApi):
    """OpenRLHF's remote reward model protocol (`--remote_rm_url`), for text-only rollouts.

    The shape is the one of OpenRLHF's `openrlhf/utils/remote_rm_utils.py` (`remote_rm_fn`):
    it POSTs `{"query": [str, ...], "prompts": [str, ...], "labels": [...]}` and reads
    `response.json()["rewards"]`, a list of floats in the order of `query`. `labels` is
    accepted and ignored (a learned reward model needs no reference answer).

    Text-only queries are scored with no image, not with a blank one: a text-only item gets a
    zero image vector in batch scoring (`rewardmodel.features`), so a query scores exactly as
    the same conversation would in a corpus; a blank picture would be a real, out-of-sample
    image the model never learned to read as "no image".

    OpenRLHF's client sends no Authorization header: put a proxy that adds
    `Authorization: Token ...` in front, or call this from a custom reward function
    (docs/handoff.md).
    """

    permission_classes = [IsProjectReviewer]

    class InputSerializer(serializers.Serializer):
        query = serializers.ListField(
            child=serializers.CharField(
                max_length=MAX_TEXT_CHARS, allow_blank=True, trim_whitespace=False
            ),
            min_length=1,
            max_length=MAX_BATCH,
            help_text=f"Prompt + response texts (at most {MAX_BATCH}, {MAX_TEXT_CHARS} "
            "characters each).",
        )
        prompts = serializers.ListField(
            child=serializers.CharField(
                max_length=MAX_TEXT_CHARS, allow_blank=True, trim_whitespace=False
            ),
            required=False,
            max_length=MAX_BATCH,
            help_text="The prompt of each query, same length as `query` (optional).",
        )
        labels = serializers.ListField(
            child=serializers.JSONField(allow_null=True),
            required=False,
            max_length=MAX_BATCH,
            help_text="Reference answers; accepted and ignored.",
        )

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            prompts = attrs.get("prompts")
            if prompts is not None and len(prompts) != len(attrs["query"]):
                raise serializers.ValidationError({"prompts": "One prompt per query."})
            return attrs

    class OutputSerializer(serializers.Serializer):
        rewards = serializers.ListField(
            child=serializers.FloatField(), help_text="One reward per query, in order."
        )

    @extend_schema(
        operation_id="reward_model_openrlhf",
        summary="OpenRLHF remote reward model endpoint (text only)",
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(400, 401, 403, 404, 409)},
        examples=[
            OpenApiExample(
                "OpenRLHF's request",
                request_only=True,
                value={
                    "query": ["What is on the mat? A red cat."],
                    "prompts": ["What is on the mat?"],
                    "labels": [None],
                },
            ),
            OpenApiExample("Rewards", response_only=True, value={"rewards": [0.73]}),
        ],
    )
    def post(self, request: Request, run_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        queries = data.validated_data["query"]
        prompts = data.validated_data.get("prompts") or [None] * len(queries)
        entries = [
            ScoreEntry(openrlhf_conversation(query, prompt))
            for query, prompt in zip(queries, prompts, strict=True)
        ]
        rewards = reward_model_score_batch(run=self.run, entries=entries)
        return Response({"rewards": [r.reward for r in rewards]})
