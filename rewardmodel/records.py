"""The structure of LLaVA-style records (shared/reference/formats.md) that every layer reads.

Pure Python with no torch import, so the annotation engine uses the same rules as training.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# The "turn" of an item's candidate question sets (a record with several `questions`)
QUESTIONS_TURN = "questions"


def candidate_turns(conversations: Sequence[Any] | None, questions: Any = None) -> list[int | str]:
    """Turns that hold candidate lists, in order; ``QUESTIONS_TURN`` last when ``questions``
    (the record's candidate question sets) offers more than one."""
    turns: list[int | str] = [
        t
        for t, turn in enumerate(conversations or [])
        if isinstance(turn, Mapping) and isinstance(turn.get("value"), list)
    ]
    if isinstance(questions, list) and len(questions) > 1:
        turns.append(QUESTIONS_TURN)
    return turns
