"""Adjudication starts from the ratings' median and the other questions' majority."""

from __future__ import annotations

from annotation.services.review import review_prefill

RATING = {
    "key": "r",
    "type": "rating",
    "labels": [{"value": v, "label": str(v)} for v in range(1, 6)],
}
BINARY = {"key": "ok", "type": "binary"}
TEXT = {"key": "why", "type": "text"}


def test_a_rating_starts_from_the_median_not_the_first_answer():
    def prefill(*ratings):
        return review_prefill([RATING], [{"r": v} for v in ratings])["r"]

    assert prefill(5, 1, 2) == 2
    assert prefill(5, 1) == 3  # the middle of an even count
    assert prefill(4, 1) == 2  # 2.5: the nearest label, the lower on a tie
    assert prefill(5, 4, 4, 1) == 4


def test_other_questions_start_from_the_majority_and_text_stays_empty():
    answers = [
        {"ok": True, "why": "a", "r": 2},
        {"ok": False, "why": "b"},
        {"ok": False, "why": "c"},
    ]
    assert review_prefill([BINARY, TEXT, RATING], answers) == {"ok": False, "r": 2}
    # a tie goes to the first answer given
    assert review_prefill([BINARY], [{"ok": True}, {"ok": False}]) == {"ok": True}


PER_TURN_RATING = {**RATING, "key": "t", "per_turn": True}
PER_TURN_BINARY = {"key": "tb", "type": "binary", "per_turn": True}


def test_a_per_turn_rating_starts_from_each_turns_median():
    answers = [
        {"t": {"0": 5, "1": 1}},
        {"t": {"0": 1, "1": 2}},
        {"t": {"0": 2, "1": 2, "2": 4}},
    ]
    # no two whole answers agree; per turn: median(5, 1, 2), median(1, 2, 2), the one answer
    assert review_prefill([PER_TURN_RATING], answers) == {"t": {"0": 2, "1": 2, "2": 4}}
    # an even count per turn: the middle, the nearest label, the lower on a tie
    pair = [{"t": {"0": 5, "1": 4}}, {"t": {"0": 1, "1": 1}}]
    assert review_prefill([PER_TURN_RATING], pair) == {"t": {"0": 3, "1": 2}}


def test_other_per_turn_questions_start_from_each_turns_majority():
    answers = [
        {"tb": {"0": True, "1": False}},
        {"tb": {"0": False, "1": False}},
        {"tb": {"0": False, "1": True}},
        {"tb": "not a per-turn answer"},  # an old whole answer is skipped, not counted
    ]
    assert review_prefill([PER_TURN_BINARY], answers) == {"tb": {"0": False, "1": False}}
    # turns come back in turn order, 10 after 2
    numbered = [{"tb": {"10": True, "2": False}}]
    assert list(review_prefill([PER_TURN_BINARY], numbered)["tb"]) == ["2", "10"]
    # a tie in one turn goes to the first answer given for that turn
    tie = [{"tb": {"0": True}}, {"tb": {"0": False}}]
    assert review_prefill([PER_TURN_BINARY], tie) == {"tb": {"0": True}}
