import random

import pytest

from demo.corpus import defects as d
from demo.corpus.qa import QA

QA_COLOR = QA(
    question="What color is the shape?",
    value="blue",
    alternatives=("red", "green"),
    render=lambda v: f"The shape in the image is {v}.",
    kind="color",
    absent=("a small red triangle",),
)


@pytest.mark.parametrize("seed", range(20))
def test_wrong_answer_keeps_wording_but_changes_the_value(seed: int) -> None:
    out = d.wrong_answer(QA_COLOR, random.Random(seed))
    assert out in {"The shape in the image is red.", "The shape in the image is green."}


@pytest.mark.parametrize("seed", range(10))
def test_hallucinated_object_appends_a_sentence_about_an_absent_object(seed: int) -> None:
    out = d.hallucinated_object(QA_COLOR.answer, QA_COLOR.absent, random.Random(seed))
    assert out.startswith(QA_COLOR.answer + " ")
    assert "red triangle" in out.lower()


@pytest.mark.parametrize("seed", range(20))
def test_truncated_answer_is_a_strict_prefix_without_final_punctuation(seed: int) -> None:
    answer = "The image shows a single blue circle on a plain pale pink background."
    out = d.truncated_answer(answer, random.Random(seed))
    assert answer.startswith(out)
    assert 0 < len(out) < 0.8 * len(answer)
    assert out[-1] not in ".!?"


def test_truncated_answer_cuts_short_answers_mid_word() -> None:
    out = d.truncated_answer("Blue.", random.Random(0))
    assert "Blue.".startswith(out) and out != "Blue." and out[-1] != "."


def test_off_topic_answer_comes_from_a_different_question() -> None:
    pool = [("What color is the shape?", "It is red."), ("Is there a circle?", "Yes, it is.")]
    for seed in range(10):
        assert d.off_topic_answer(
            "<image>\nWhat color is the shape?", pool, random.Random(seed)
        ) == ("Yes, it is.")
    with pytest.raises(ValueError):
        d.off_topic_answer("Is there a circle?", pool[1:], random.Random(0))


@pytest.mark.parametrize("seed", range(30))
def test_garbled_instruction_corrupts_the_question(seed: int) -> None:
    question = "Does the image contain a green triangle in the corner?"
    out = d.garbled_instruction(question, random.Random(seed))
    assert out != question
    assert out.split() != question.split()


def test_garbled_instruction_changes_a_one_word_question() -> None:
    assert d.garbled_instruction("Describe.", random.Random(0)) != "Describe."
