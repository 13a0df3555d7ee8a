"""Every branch of the zero-shot cascade against a scripted source with known answers."""

from __future__ import annotations

import random

import pytest

from judge.cascade import Judge, parse_verdict
from judge.config import JudgeConfig
from judge.rules import JudgeRule
from judge.sources import Box, ScriptedSource

RULE = JudgeRule(
    key="weapon",
    text="No weapon may be visible.",
    preconditions=(("a gun", "a knife"), ("a person holding it",)),
    central_objects=("gun", "knife"),
)


def judge_with(source: ScriptedSource, **config) -> Judge:
    return Judge(
        source, relevance=source, detector=source, editor=source, config=JudgeConfig(**config)
    )


def test_relevance_scan_skips_the_rule_before_any_question():
    source = ScriptedSource(relevance={("img", RULE.text): 0.21})
    decision = judge_with(source).judge("img", RULE)
    assert not decision.violated and decision.decided_by == "relevance"
    assert decision.trace["relevance"] == {"score": 0.21, "threshold": 0.22, "skipped": True}
    assert source.count("yes_no") == 0  # early exit


def test_relevance_switched_off_asks_anyway():
    source = ScriptedSource(relevance={("img", RULE.text): 0.0}, default_m=0.0)
    decision = judge_with(source, relevance=False).judge("img", RULE)
    assert decision.decided_by == "preconditions"
    assert decision.trace["relevance"]["off"] is True
    assert source.count("similarity") == 0


def test_all_preconditions_met_is_a_violation_with_a_complete_trace():
    source = ScriptedSource(
        m={
            ("img", "a gun"): 0.95,
            (None, "a gun"): 0.1,
            ("img", "a person holding it"): 0.99,
            (None, "a person holding it"): 0.2,
        }
    )
    decision = judge_with(source).judge("img", RULE)
    assert decision.violated
    first, second = decision.trace["preconditions"]
    # OR: the first alternative met, so the knife was never asked
    assert [a["content"] for a in first["alternatives"]] == ["a gun"]
    assert ("img", "a knife") not in [c for _, c in source.calls]
    step = first["alternatives"][0]["steps"][0]
    assert step == {
        "step": "debiased",
        "m": 0.95,
        "m_none": 0.1,
        "prior": "no_image",
        "diff": 0.85,
        "low": -0.03,
        "high": 0.72,
        "outcome": "met",
    }
    assert second["met"] and decision.trace["stopped_at"] is None
    assert decision.trace["config"] == JudgeConfig().to_json()


def test_first_confident_miss_stops_the_chain():
    source = ScriptedSource(
        m={
            ("img", "a gun"): 0.2,
            (None, "a gun"): 0.5,
            ("img", "a knife"): 0.1,
            (None, "a knife"): 0.5,
        }
    )
    decision = judge_with(source).judge("img", RULE)
    assert not decision.violated and decision.trace["stopped_at"] == 0
    assert len(decision.trace["preconditions"]) == 1
    asked = [c for k, c in source.calls if k == "yes_no"]
    assert ("img", "a person holding it") not in asked
    assert source.count("detect") == 0 and source.count("verdict") == 0


def test_removal_decides_met_when_the_answer_collapses_without_the_object():
    big = Box(10, 10, 60, 60, score=0.4, label="gun")
    source = ScriptedSource(
        m={("img", "a gun"): 0.7, (None, "a gun"): 0.5, ("img-removed", "a gun"): 0.05},
        detections={"img": [big]},
    )
    result = judge_with(source).check("img", RULE, "a gun")
    debias, removal = result["steps"]
    assert debias["outcome"] == "inconclusive"
    assert removal["outcome"] == "met" and removal["cropped"] is False
    assert removal["diff"] == pytest.approx(0.65) and removal["region_share"] == 0.25
    assert source.count("verdict") == 0


def test_small_region_is_judged_on_a_crop():
    tiny = Box(0, 0, 5, 5, score=0.9)  # 25 of 10000 pixels: 0.25%
    source = ScriptedSource(
        m={
            ("img", "a gun"): 0.6,
            (None, "a gun"): 0.5,
            ("img-crop", "a gun"): 0.9,
            ("img-crop-removed", "a gun"): 0.1,
        },
        detections={"img": [tiny]},
    )
    removal = judge_with(source).check("img", RULE, "a gun")["steps"][1]
    assert removal["cropped"] is True and removal["m_view"] == 0.9
    assert removal["outcome"] == "met"


@pytest.mark.parametrize("verdict,expected", [(True, "met"), (False, "not_met")])
def test_cascade_decides_only_what_stays_inconclusive(verdict, expected):
    weak = Box(0, 0, 50, 50, score=0.04)  # below the detection confidence
    source = ScriptedSource(
        m={("img", "a gun"): 0.6, (None, "a gun"): 0.5},
        detections={"img": [weak]},
        verdicts={("img", "a gun"): verdict},
    )
    result = judge_with(source).check("img", RULE, "a gun")
    assert [s["step"] for s in result["steps"]] == ["debiased", "object_removal", "reasoning"]
    assert result["steps"][1]["reason"] == "not detected"
    assert result["outcome"] == expected and result["steps"][2]["parsed"]


def test_unreadable_verdict_falls_back_to_the_probability():
    source = ScriptedSource(
        m={("img", "a gun"): 0.6, (None, "a gun"): 0.5}, verdicts={("img", "a gun"): "hmm"}
    )
    result = judge_with(source, object_removal=False).check("img", RULE, "a gun")
    step = result["steps"][-1]
    assert step["parsed"] is False and result["outcome"] == "met"


def test_without_cascade_or_debias_the_fallbacks_decide():
    source = ScriptedSource(m={("img", "a gun"): 0.55, (None, "a gun"): 0.5})
    result = judge_with(source, cascade=False, object_removal=False).check("img", RULE, "a gun")
    assert result["steps"][-1] == {
        "step": "fallback",
        "m": 0.55,
        "threshold": 0.5,
        "outcome": "met",
    }
    # debias off: the no-image query is never asked and the prior is 0.5
    source = ScriptedSource(m={("img", "a gun"): 0.95})
    result = judge_with(source, debias=False).check("img", RULE, "a gun")
    assert result["steps"][0]["prior"] == "fixed" and result["outcome"] == "met"
    assert (None, "a gun") not in [c for _, c in source.calls]


def paper_outcome(m, m_none, m_removed, verdict, detected):
    """The paper's rule written independently of the implementation."""
    if m - m_none < -0.3 * m_none:
        return "not_met", "debiased"
    if m - m_none > 0.8 * (1 - m_none):
        return "met", "debiased"
    if detected and m - m_removed > 0.6:
        return "met", "object_removal"
    return ("met" if verdict else "not_met"), "reasoning"


def test_every_branch_is_decided_as_the_paper_says():
    rng = random.Random(7)
    seen = set()
    for n in range(400):
        m, m_none, m_removed = (round(rng.random(), 3) for _ in range(3))
        detected, verdict = rng.random() < 0.7, rng.random() < 0.5
        image = f"i{n}"
        source = ScriptedSource(
            m={(image, "c"): m, (None, "c"): m_none, (f"{image}-removed", "c"): m_removed},
            detections={image: [Box(0, 0, 50, 50, 0.5)] if detected else []},
            verdicts={(image, "c"): verdict},
        )
        result = judge_with(source).check(image, RULE, "c")
        expected = paper_outcome(m, m_none, m_removed, verdict, detected)
        assert (result["outcome"], result["decided_by"]) == expected, (m, m_none, m_removed)
        seen.add(expected)
    assert seen == {
        ("not_met", "debiased"),
        ("met", "debiased"),
        ("met", "object_removal"),
        ("met", "reasoning"),
        ("not_met", "reasoning"),
    }


def test_forced_reasoning_share_runs_on_decided_checks_without_changing_them():
    source = ScriptedSource(m={("img", "c"): 0.99, (None, "c"): 0.1})
    judge = judge_with(source, force_cascade_share=0.5)
    results = [judge.check("img", RULE, "c") for _ in range(10)]
    forced = [r for r in results if r["steps"][-1]["step"] == "reasoning"]
    assert len(forced) == 5 and all(r["outcome"] == "met" for r in results)


def test_rubric_yes_no_question_is_debiased():
    source = ScriptedSource(
        m={("img", "ctx\nIs it faithful?"): 0.7, (None, "ctx\nIs it faithful?"): 0.8}
    )
    answer = judge_with(source).yes_no_question("img", "Is it faithful?", "ctx")
    # raw 0.7 looks like yes, but the model says yes more often without the image
    assert answer["answer"] is False and answer["diff"] == pytest.approx(-0.1)


def test_parse_verdict_and_rule_validation():
    assert parse_verdict('blah {"visible": true, "rationale": "a gun"} end') == (True, "a gun")
    assert parse_verdict("No, nothing.") == (False, "")
    assert parse_verdict("{broken") == (None, "")
    rule = JudgeRule.from_json(
        {"key": "r", "text": "t", "preconditions": ["a", ["b", "c"]], "central_objects": ["x"]}
    )
    assert rule.chain == (("a",), ("b", "c"))
    for bad in (
        {"key": "r", "text": ""},
        {"key": "r", "text": "t", "preconditions": [[]]},
        {"key": "r", "text": "t", "preconditions": [[3]]},
    ):
        with pytest.raises(ValueError):
            JudgeRule.from_json(bad)
    with pytest.raises(ValueError):
        JudgeConfig.from_json({"relevance_threshold": 2})
    with pytest.raises(ValueError):
        JudgeConfig.from_json({"nope": 1})


def test_forced_reasoning_does_not_change_who_decided():
    source = ScriptedSource(m={("img", "c"): 0.99, (None, "c"): 0.1})
    result = judge_with(source, force_cascade_share=1.0, cascade=False).check("img", RULE, "c")
    assert result["decided_by"] == "debiased" and result["steps"][-1]["forced"] is True
    source = ScriptedSource(m={("img", "c"): 0.6, (None, "c"): 0.5})
    result = judge_with(source, force_cascade_share=1.0, cascade=False, object_removal=False).check(
        "img", RULE, "c"
    )
    assert result["decided_by"] == "fallback" and result["outcome"] == "met"
