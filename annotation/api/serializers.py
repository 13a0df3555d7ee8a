"""Output shapes shared by several engine endpoints."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


class ItemOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="Item id.")
    external_id = serializers.CharField(help_text="The record's id in its corpus file.")
    image_url = serializers.CharField(allow_null=True, help_text="Under MEDIA_URL; null if none.")
    width = serializers.IntegerField(allow_null=True, help_text="Image width in pixels.")
    height = serializers.IntegerField(allow_null=True, help_text="Image height in pixels.")
    category = serializers.CharField(help_text="Item category (e.g. LLaVA split).")
    conversations = serializers.JSONField(
        help_text="LLaVA turns; a gpt turn's value may be a list of candidate answers."
    )
    questions = serializers.JSONField(
        allow_null=True, help_text="Candidate question sets (question-preference records)."
    )


class AnswersField(serializers.DictField):
    """`{question_key: value}`; formats per question type are in the rubric docs."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault(
            "help_text",
            "{question_key: value}. rating: int; binary: bool; multi_label: [str]; text: str; "
            'pairwise: {"turn", "a", "b", "choice": "A"|"B"|"tie"|"both_bad"}; ranking: '
            '{"turn", "ranking": [[best], [next], ...]}; rule_verdict: {rule_key: '
            '{"verdict": "violates"|"does_not_violate"|"unsure", "rationale"}}.',
        )
        super().__init__(child=serializers.JSONField(), **kwargs)


class QuestionSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="Stable key; answers are keyed by it.")
    type = serializers.ChoiceField(
        choices=["rating", "binary", "multi_label", "text", "pairwise", "ranking", "rule_verdict"],
        help_text="Question type.",
    )
    prompt = serializers.CharField(help_text="What the annotator is asked.")
    help = serializers.CharField(required=False, allow_blank=True, help_text="Longer guidance.")
    required = serializers.BooleanField(default=True, help_text="Must be answered to submit.")
    objective = serializers.BooleanField(default=False, help_text="Objective (vs subjective).")
    criterion = serializers.CharField(
        required=False, allow_null=True, help_text="Reward-model criterion this question feeds."
    )
    labels = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text='rating only: [{"value": 1, "label": "Poor"}, ...].',
    )
    options = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="multi_label only: the options."
    )
    per_turn = serializers.BooleanField(
        default=False,
        help_text="rating, binary, multi_label, text: ask it under each answer turn of a"
        ' multi-turn item; the answer is then {"<turn index>": value, ...}.',
    )


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "description": "A yes/no check."},
            {
                "type": "array",
                "items": {"type": "string"},
                "description": "Alternatives: the precondition holds if any of them does.",
            },
        ]
    }
)
class PreconditionField(serializers.Field):
    """A yes/no check, or a list of alternatives: passed through as given, so the service's
    validation (annotation/services/projects.py) words the errors for both."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str) or (
            isinstance(data, list) and all(isinstance(a, str) for a in data)
        ):
            return data
        raise serializers.ValidationError("A yes/no check (text) or a list of alternatives.")

    def to_representation(self, value: Any) -> Any:
        return value


class RuleSerializer(serializers.Serializer):
    key = serializers.SlugField(help_text="Stable rule key.")
    text = serializers.CharField(help_text="The rule as written.")
    objectified = serializers.CharField(
        required=False, allow_blank=True, help_text="The rule as an observable check."
    )
    category = serializers.CharField(help_text="e.g. sexual, violence, hate, privacy.")
    severity = serializers.ChoiceField(
        choices=["low", "medium", "high", "critical"], default="high", help_text="Severity."
    )
    preconditions = serializers.ListField(
        child=PreconditionField(),
        required=False,
        help_text="Ordered yes/no checks (an AND-chain); each is a string or a list of "
        "alternatives, any one of which suffices. The rule applies only when all hold.",
    )
    central_objects = serializers.ListField(
        child=serializers.CharField(max_length=100),
        required=False,
        help_text="The rule's central object words (the judge removes them to test a check).",
    )


class ConstitutionSerializer(serializers.Serializer):
    version = serializers.IntegerField(help_text="Version number (a change makes a new one).")
    name = serializers.CharField(allow_blank=True, help_text="Name.")
    rules = RuleSerializer(many=True, help_text="Rules in order.")
