import pytest

from rewriting.guards import GuardSettings
from rewriting.pipeline import (
    RewriteSettings,
    UnitResult,
    record_apply,
    record_units,
    review_verdict,
    rewrite_units,
)

RECORD = {
    "id": "item-1",
    "image": "x.png",
    "conversations": [
        {"from": "human", "value": "<image>\nWhat is on the mat?"},
        {"from": "gpt", "value": "A red cat sits on the mat."},
        {"from": "human", "value": "How many dogs?"},
        {"from": "gpt", "value": "There are two dogs."},
    ],
}
NO_GUARDS = GuardSettings(colours=False, numbers=False, objects=False, spatial=False,
                          negation=False, length=False, similarity=False)  # fmt: skip


@pytest.mark.parametrize(
    ("original_first", "rewrite_first", "kept", "reason"),
    [
        (-2.0, 1.0, "rewrite", "accepted"),  # B=rewrite, then A=rewrite: rewrite both times
        (2.0, -1.0, "original", "review:original"),
        (2.0, 1.0, "original", "review:tie"),  # always "A": position bias, no choice
        (-2.0, -1.0, "original", "review:tie"),
        (0.0, 1.0, "original", "review:tie"),
    ],
)
def test_review_verdict_needs_the_same_choice_in_both_orders(
    original_first, rewrite_first, kept, reason
):
    assert review_verdict(original_first, rewrite_first) == (kept, reason)


def test_record_units_and_apply_round_trip():
    units = record_units(RECORD, ("question", "answer"))
    assert [(u.turn, u.field) for u in units] == [
        (0, "question"),
        (0, "answer"),
        (1, "question"),
        (1, "answer"),
    ]
    assert units[1].question == "What is on the mat?"
    results = [
        UnitResult(
            u.item_id,
            u.turn,
            u.field,
            u.text,
            u.text.upper(),
            "rewrite" if u.turn else "original",
            "x",
        )
        for u in units
    ]
    out = record_apply(RECORD, results)
    assert out["conversations"][0]["value"] == "<image>\nWhat is on the mat?"
    assert out["conversations"][2]["value"] == "HOW MANY DOGS?"
    assert out["conversations"][3]["value"] == "THERE ARE TWO DOGS."
    assert RECORD["conversations"][3]["value"] == "There are two dogs."  # the input is untouched


def test_rewrite_units_records_everything_and_guards_keep_the_original(tiny_lm):
    units = record_units(RECORD, ("answer",))
    settings = RewriteSettings(max_new_tokens=5, batch_size=1)
    guarded = rewrite_units(tiny_lm, units, settings, GuardSettings(similarity=False))
    assert len(guarded) == 2
    for result in guarded:  # a random model's words lose the cat, the colour, the number
        assert result.kept == "original" and result.reason.startswith("guard:")
        assert result.nll_original is not None and result.nll_rewrite is not None
        assert set(result.review) == {"original_first", "rewrite_first", "choice"}
        assert {g["name"] for g in result.guards} == set(GuardSettings(similarity=False).enabled())
    free = rewrite_units(tiny_lm, units, RewriteSettings(max_new_tokens=5, review=False), NO_GUARDS)
    assert [r.rewrite for r in free] == [r.rewrite for r in guarded]  # greedy: same texts
    assert all(r.kept == "rewrite" and r.text == r.rewrite for r in free if r.reason == "accepted")


def test_progress_can_stop_the_loop(tiny_lm):
    units = record_units(RECORD, ("question", "answer"))
    seen = []
    results = rewrite_units(
        tiny_lm, units, RewriteSettings(max_new_tokens=2, batch_size=2, review=False), NO_GUARDS,
        progress=lambda done, total: seen.append((done, total)) or False,
    )  # fmt: skip
    assert len(results) == 2 and seen == [(2, 4)]


def test_settings_are_validated():
    for bad in ({"temperature": -1}, {"fields": ("image",)}, {"max_new_tokens": 0},
                {"prompt_version": "v999"}, {"custom_prompt": "no placeholder"}):  # fmt: skip
        with pytest.raises(ValueError):
            RewriteSettings(**bad)
    custom = RewriteSettings(custom_prompt="Say it better: {text}")
    assert custom.resolved_prompt_version.startswith("custom-")
    assert RewriteSettings().resolved_prompt_version == "v1"
