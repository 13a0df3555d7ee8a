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
