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


def test_granularity_is_validated():
    with pytest.raises(ValueError):
        RewriteSettings(granularity="word")
    assert RewriteSettings(granularity="sentence").granularity == "sentence"


def test_sentences_split_at_sentence_ends_only():
    from rewriting.pipeline import sentences

    text = "Yes. The image shows 2.5 cats! Is it red? 'Quoted' next.  And a e.g. lower"
    assert sentences(text) == ["Yes.", "The image shows 2.5 cats!", "Is it red?",
                               "'Quoted' next.", "And a e.g. lower"]  # fmt: skip
    assert sentences("one sentence") == ["one sentence"] and sentences("  ") == []


def test_every_built_in_example_is_a_rewrite_the_word_guards_accept():
    from rewriting.guards import guards_check
    from rewriting.prompts import PROMPTS

    examples = [pair for prompt in PROMPTS.values() for pair in prompt.examples]
    assert examples, "a few-shot prompt exists"
    checks = guards_check([a for a, _ in examples], [b for _, b in examples],
                          GuardSettings(similarity=False))  # fmt: skip
    failed = [
        (pair, [g.name for g in row if not g.passed])
        for pair, row in zip(examples, checks, strict=True)
    ]
    assert all(not names for _, names in failed), failed  # an example must teach what passes


def test_worked_examples_come_before_the_text_as_earlier_turns(tiny_lm):
    from rewardmodel.causal_lm import chat_prompt
    from rewriting.prompts import PROMPTS

    prompt = PROMPTS["v2"]
    system, user = prompt.render(field="answer", text="A red cat.", question="What?")
    text = chat_prompt(tiny_lm, system, user, prompt.history(field="answer"))
    first_example, first_rewrite = prompt.examples[0]
    assert text.index(first_example) < text.index(first_rewrite) < text.index("A red cat.")
    assert text.endswith("Assistant: ") and text.count("Assistant: ") == len(prompt.examples) + 1


def test_sentence_by_sentence_rewrites_each_sentence_and_guards_each(tiny_lm):
    from rewardmodel.causal_lm import chat_prompt
    from rewriting.lm import generate
    from rewriting.pipeline import Unit
    from rewriting.prompts import PROMPTS

    unit = Unit("1", 0, "answer", "A red cat sat on the mat. Two dogs are left of it.", "Q?")
    settings = RewriteSettings(max_new_tokens=3, review=False, granularity="sentence",
                               prompt_version="v2")  # fmt: skip
    free = rewrite_units(tiny_lm, [unit], settings, NO_GUARDS)[0]
    prompt = PROMPTS["v2"]
    rendered = [
        chat_prompt(tiny_lm, *prompt.render(field="answer", text=s, question="Q?"),
                    prompt.history(field="answer"))
        for s in ("A red cat sat on the mat.", "Two dogs are left of it.")
    ]  # fmt: skip
    each = generate(tiny_lm, rendered, max_new_tokens=3, temperature=0.0)
    assert free.rewrite == " ".join(e.strip() for e in each)
    # with the guards on, a random model's words fail each sentence's guards: every sentence
    # keeps its own words, so the turn comes back unchanged
    guarded = rewrite_units(tiny_lm, [unit], settings, GuardSettings(similarity=False))[0]
    assert guarded.rewrite == unit.text and guarded.reason == "unchanged"
