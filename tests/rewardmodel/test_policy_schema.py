"""The policy schema served to the curation form says what ``policy_validate`` checks."""

from __future__ import annotations

import json

import pytest

from rewardmodel.selection import PolicyError, policy_schema, policy_validate

SAMPLE = {"string": "overall", "integer": 3, "number": 0.5, "boolean": True, "array": ["unsafe"],
          "object": {"a": 1}}  # fmt: skip


def _minimal(op: str, fields: dict) -> dict:
    step = {"op": op}
    for name, spec in fields.items():
        if spec["required"]:
            step[name] = SAMPLE[spec["type"]]
    return step


def test_schema_is_json_and_names_every_op() -> None:
    schema = json.loads(json.dumps(policy_schema()))
    assert set(schema["ops"]) == {
        "exclude_flags", "threshold", "top_fraction", "top_k", "quota", "align2llava", "dedup",
        "diversity", "random",
    }  # fmt: skip
    assert schema["ops"]["top_fraction"]["fields"]["fraction"] == {
        "type": "number", "required": True, "minimum": 0, "exclusive_minimum": True, "maximum": 1,
    }  # fmt: skip
    assert schema["ops"]["diversity"]["fields"]["method"]["choices"] == ["kcenter", "mmr"]


@pytest.mark.parametrize("op", sorted(policy_schema()["ops"]))
def test_required_fields_and_defaults_agree_with_the_validator(op: str) -> None:
    spec = policy_schema()["ops"][op]
    step = _minimal(op, spec["fields"])
    for group in spec.get("one_of", []) + spec.get("any_of", []):
        step[group[0]] = SAMPLE[spec["fields"][group[0]]["type"]]
    (normalised,) = policy_validate([step])
    for name, field in spec["fields"].items():
        if not field["required"] and name not in step:
            assert normalised[name] == field["default"], name
    for name, field in spec["fields"].items():
        if field["required"]:
            with pytest.raises(PolicyError, match=name):
                policy_validate([{k: v for k, v in step.items() if k != name}])


def test_choices_in_the_schema_are_the_ones_validated() -> None:
    base = {"op": "diversity", "k": 2, "score": "overall"}
    for method in policy_schema()["ops"]["diversity"]["fields"]["method"]["choices"]:
        policy_validate([{**base, "method": method}])
    with pytest.raises(PolicyError, match="method"):
        policy_validate([{**base, "method": "other"}])
