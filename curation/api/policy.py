"""The curation policy language in the OpenAPI document, built from the validator's own table."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from curation.services.curation import curation_policy_schema


def _step_schema(op: str, spec: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = {"op": {"type": "string", "enum": [op]}}
    required = ["op"]
    for name, field in spec["fields"].items():
        prop: dict[str, Any] = {"type": field["type"]}
        if "choices" in field:
            prop["enum"] = field["choices"]
        for key in ("minimum", "maximum"):
            if key in field:
                prop[key] = field[key]
        if field.get("exclusive_minimum"):
            prop["exclusiveMinimum"] = True
        if field["required"]:
            required.append(name)
        else:
            prop["default"] = field.get("default")
            prop["nullable"] = field.get("default") is None
        properties[name] = prop
    constraints = [" or ".join(group) for group in spec.get("one_of", []) + spec.get("any_of", [])]
    schema = {
        "type": "object",
        "title": op,
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
    if constraints:
        schema["description"] = "Give " + "; ".join(constraints) + "."
    return schema


def policy_openapi_schema() -> dict[str, Any]:
    """A preset's name, or a list of steps (each one op, or a preset expanded in place)."""
    language = curation_policy_schema()
    presets = sorted(language["presets"])
    steps = [_step_schema(op, spec) for op, spec in sorted(language["ops"].items())]
    preset_step = {
        "type": "object",
        "title": "preset",
        "properties": {"preset": {"type": "string", "enum": presets}},
        "required": ["preset"],
        "additionalProperties": False,
    }
    return {
        "oneOf": [
            {"type": "string", "enum": presets, "title": "preset name"},
            {"type": "array", "minItems": 1, "items": {"oneOf": [*steps, preset_step]}},
        ],
        "description": (
            "A selection policy: a preset's name, or steps applied in order to the scored items. "
            f"Scores every project has: {', '.join(language['scores'])} (plus its rubric's "
            f"criteria); flags: {', '.join(language['flags'])} (plus rule:<key>)."
        ),
    }


@extend_schema_field(policy_openapi_schema())
class PolicyField(serializers.JSONField):
    """A curation policy; validated by the curation service, documented from the same table."""
