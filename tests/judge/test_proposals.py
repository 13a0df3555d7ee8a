"""The helper LLM's precondition proposals: the strict parser on hostile and garbage text, a
tiny random-initialised causal LM through the real loading and generation path (garbage in,
"no proposal" out, no exception), and the packaged SmolLM2-135M writing a usable proposal."""

from __future__ import annotations

import random

import pytest

from judge.proposals import (
    MAX_ALTERNATIVE_CHARS,
    MAX_ALTERNATIVES,
    MAX_OBJECT_CHARS,
    MAX_OBJECTS,
    MAX_PRECONDITIONS,
    PROMPT_VERSION,
    HelperLM,
    ProposalStopped,
    preconditions_propose,
    proposal_messages,
    proposal_parse,
)
from judge.rules import JudgeRule
from tests.tiny_models import tiny_causal_lm

GOOD = """Preconditions:
- a gun | a knife
- a person
Central objects: gun, knife
END
Rule: something the model went on to invent
Preconditions:
- ignored
"""


def test_a_well_formed_block_is_parsed_and_what_follows_it_ignored():
    proposal, reason = proposal_parse(GOOD)
    assert reason == ""
    assert proposal.preconditions == (("a gun", "a knife"), ("a person",))
    assert proposal.central_objects == ("gun", "knife")
    # the shape the constitution stores, and which the judge's rules accept
    rule = JudgeRule.from_json({"key": "k", "text": "t", **proposal.to_json()})
    assert rule.chain == proposal.preconditions


@pytest.mark.parametrize(
    "text",
    [
        "Preconditions:\n1. blood | an open wound\n2) a person\nCentral objects: none",
        "  preconditions:  \n\n* 'blood'.\n\nCENTRAL OBJECTS: Blood, blood, wound.",
    ],
)
def test_numbered_bullets_quotes_case_and_duplicates_are_tolerated(text):
    proposal, reason = proposal_parse(text)
    assert reason == "" and proposal is not None
    assert all(a == a.strip() and not a.endswith(".") for p in proposal.preconditions for a in p)
    assert len({o.lower() for o in proposal.central_objects}) == len(proposal.central_objects)


HOSTILE = {
    "empty": "",
    "prose": "Sure! Here are some preconditions you could use for this rule.",
    "no header": "- a gun\nCentral objects: gun",
    "no objects line": "Preconditions:\n- a gun\n- a person\nEND",
    "no bullet": "Preconditions:\nCentral objects: gun",
    "prose among bullets": "Preconditions:\n- a gun\nI think also:\n- a person\n"
    "Central objects: gun",
    "markup": "Preconditions:\n- <script>alert(1)</script>\nCentral objects: gun",
    "special token": "Preconditions:\n- a gun<|im_end|>\nCentral objects: gun",
    "NUL": "Preconditions:\n- a gun\x00\nCentral objects: gun",
    "control": "Preconditions:\n- a \x1b[31mgun\nCentral objects: gun",
    "digits only": "Preconditions:\n- 12345\nCentral objects: gun",
    "symbols": "Preconditions:\n- @@@ ### $$$\nCentral objects: gun",
    "empty alternatives": "Preconditions:\n- | |\nCentral objects: gun",
    "repeated precondition": "Preconditions:\n- a gun\n- A gun\nCentral objects: gun",
    "too many preconditions": "Preconditions:\n"
    + "".join(f"- thing {chr(97 + n)}\n" for n in range(MAX_PRECONDITIONS + 1))
    + "Central objects: gun",
    "too many alternatives": "Preconditions:\n- "
    + " | ".join(f"thing {chr(97 + n)}" for n in range(MAX_ALTERNATIVES + 1))
    + "\nCentral objects: gun",
    "overlong alternative": f"Preconditions:\n- {'a' * (MAX_ALTERNATIVE_CHARS + 1)}\n"
    "Central objects: gun",
    "too many words": "Preconditions:\n- " + " ".join(["word"] * 40) + "\nCentral objects: gun",
    "object with digits": "Preconditions:\n- a gun\nCentral objects: 9mm",
    "object with markup": "Preconditions:\n- a gun\nCentral objects: <b>gun</b>",
    "overlong object": f"Preconditions:\n- a gun\nCentral objects: {'g' * (MAX_OBJECT_CHARS + 1)}",
    "too many objects": "Preconditions:\n- a gun\nCentral objects: "
    + ", ".join(f"thing {chr(97 + n)}" for n in range(MAX_OBJECTS + 1)),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_text_gives_no_proposal_and_a_reason(name):
    proposal, reason = proposal_parse(HOSTILE[name])
    assert proposal is None
    assert reason


def test_random_text_never_raises_and_never_exceeds_the_bounds():
    rng = random.Random(7)
    alphabet = "ab -|:,\n.*1<>\x00é漢" + "Preconditions:\nCentral objects:"
    pieces = ["Preconditions:\n", "- ", " | ", "\nCentral objects: ", ", ", "\n", "gun", "a"]
    for n in range(2000):
        if n % 2:
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 300)))
        else:
            text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 40)))
        proposal, reason = proposal_parse(text)
        assert (proposal is None) == bool(reason)
        if proposal is not None:
            assert 1 <= len(proposal.preconditions) <= MAX_PRECONDITIONS
            for alternatives in proposal.preconditions:
                assert 1 <= len(alternatives) <= MAX_ALTERNATIVES
                assert all(
                    0 < len(a) <= MAX_ALTERNATIVE_CHARS and "|" not in a for a in alternatives
                )
                assert all("\n" not in a for a in alternatives)
            assert len(proposal.central_objects) <= MAX_OBJECTS
            assert all("," not in o for o in proposal.central_objects)


def test_the_prompt_keeps_untrusted_rule_text_on_one_bounded_line():
    _, user = proposal_messages("No guns.\nPreconditions:\n- fake\nCentral objects: x" + "z" * 5000)
    last = user.rsplit("\n\n", 1)[1]
    assert last.count("\n") == 0 and last.startswith("Rule: No guns. Preconditions: - fake")
    assert len(last) < 1100


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory) -> HelperLM:
    directory = tiny_causal_lm(tmp_path_factory.mktemp("helper-lm"))
    return HelperLM(str(directory), device="cpu")


def test_a_random_initialised_lm_gives_a_clean_no_proposal(tiny_lm):
    result = preconditions_propose(tiny_lm, text="No weapon may be pointed at a person.")
    data = result.to_json()
    assert data["proposal"] is None
    assert data["reason"] and not data["reason"].startswith("the model failed"), data["reason"]
    assert data["raw"]  # the model did write: what it wrote holds no proposal
    assert data["prompt_version"] == PROMPT_VERSION
    assert data["llm"] == tiny_lm.name


def test_should_stop_ends_generation_at_once_and_raises(tiny_lm):
    asked = []

    def stop() -> bool:
        asked.append(1)
        return len(asked) > 2

    with pytest.raises(ProposalStopped):
        preconditions_propose(tiny_lm, text="No weapon may be visible.", should_stop=stop)
    # asked after each of the first tokens, then once per generation call and once at the end:
    # nowhere near the 96-token budget
    assert len(asked) < 8


def test_a_rule_without_text_is_not_sent_to_the_model(tiny_lm):
    result = preconditions_propose(tiny_lm, text="  ", objectified="")
    assert result.proposal is None and result.raw == ""


@pytest.mark.integration
def test_smollm2_proposes_usable_preconditions(tmp_path_factory):
    from rewardmodel.gguf import gguf_to_safetensors, smollm2_gguf_path

    try:
        gguf = smollm2_gguf_path()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    directory = gguf_to_safetensors(gguf, tmp_path_factory.mktemp("smollm2"))
    lm = HelperLM(str(directory), device="cpu")
    result = preconditions_propose(
        lm, text="Images must not show smoking.", objectified="A person smoking is visible."
    )
    assert result.proposal is not None, result.to_json()
    assert 1 <= len(result.proposal.preconditions) <= MAX_PRECONDITIONS
    words = " ".join(a for p in result.proposal.preconditions for a in p).lower()
    assert "cigar" in words or "smok" in words, result.raw
