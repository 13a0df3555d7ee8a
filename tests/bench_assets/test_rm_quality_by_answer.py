"""The wrong-answer split of the end-to-end quality bench: what a defect changed."""

from __future__ import annotations

import pytest

from bench.rm_quality_by_answer import answer_kind


def _case(original: str, altered: str, source: str = "easy_vqa") -> tuple[dict, dict, dict]:
    change = {"defect": "wrong_answer", "turn": 1, "original": original}
    record = {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": altered}]}
    return {"source": source}, record, change


@pytest.mark.parametrize(
    ("original", "altered", "kind"),
    [
        ("The shape is gray.", "The shape is brown.", "colour"),
        ("The image shows a teal circle.", "The image shows a yellow circle.", "colour"),
        (
            "Yes. The image does not contain a triangle.",
            "No. The image contains a triangle.",
            "yes/no",
        ),  # fmt: skip
        ("The shape is a circle.", "The shape is a triangle.", "shape"),
        (
            "Yes, it is round because it is a circle.",
            "No, it has corners: it is a rectangle.",
            "yes/no",
        ),  # fmt: skip
        ("It is bright.", "It is dark.", "other"),
    ],
)
def test_answer_kind_names_what_the_defect_changed(original, altered, kind):
    assert answer_kind(*_case(original, altered)) == kind


def test_photos_are_their_own_group():
    case = _case("It looks like dusk.", "It looks like full sun.", source="skimage")
    assert answer_kind(*case) == "photo"
