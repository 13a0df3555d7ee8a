"""Record structure shared by the engine and the recipes: which turns hold candidates."""

from __future__ import annotations

from rewardmodel.records import QUESTIONS_TURN, candidate_turns


def test_candidate_turns_lists_candidate_lists_then_question_sets() -> None:
    conversations = [
        {"from": "human", "value": "<image>\nWhat colour?"},
        {"from": "gpt", "value": ["Red.", "Blue."]},
        {"from": "human", "value": "And the shape?"},
        {"from": "gpt", "value": "A circle."},
    ]
    assert candidate_turns(conversations) == [1]
    assert candidate_turns(conversations, [["q1"], ["q2"]]) == [1, QUESTIONS_TURN]
    assert candidate_turns(conversations, [["only one set"]]) == [1]
    assert candidate_turns(None) == [] and candidate_turns(["not a turn"]) == []
