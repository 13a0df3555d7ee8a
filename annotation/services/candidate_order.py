"""The order in which an annotator is shown an item's candidates: random, fixed per assignment.

Position bias (preferring whatever is shown first) would otherwise enter the preference data:
if every annotator saw candidate 0 first, "A is better" would mean "candidate 0 is better".
Each assignment gets its own permutation per candidate turn, derived from the assignment id,
so a reload, a prefetch or a resumed lease shows the same order without storing anything
until the submit records it (`Annotation.display_order`). Answers always name candidates by
their canonical index in `Item.conversations`; the order only says where each was shown.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from typing import Any

from rewardmodel.records import QUESTIONS_TURN, candidate_turns

# A per-deployment secret is not needed: the order must be unpredictable to nobody, only
# unrelated to the candidates' positions. A fixed salt keeps orders stable across releases.
_SALT = b"arbiter-candidate-order-v1"


def candidate_permutation(*, assignment_id: int, turn: int | str, n: int) -> list[int]:
    """Canonical candidate indices in the order they are shown (deterministic)."""
    digest = hashlib.sha256(_SALT + f":{assignment_id}:{turn}".encode()).digest()
    order = list(range(n))
    random.Random(int.from_bytes(digest[:8], "big")).shuffle(order)
    return order


def display_order_for(
    *, assignment_id: int, conversations: Any, questions: Any
) -> dict[str, list[int]]:
    """{turn (as a string): shown order} for every candidate turn of an item."""
    out: dict[str, list[int]] = {}
    turns = conversations if isinstance(conversations, list) else []
    for turn in candidate_turns(turns, questions):
        if turn == QUESTIONS_TURN:
            n = len(questions)
        else:
            value = turns[turn].get("value") if isinstance(turns[turn], Mapping) else None
            n = len(value) if isinstance(value, list) else 0
        if n >= 2:
            out[str(turn)] = candidate_permutation(assignment_id=assignment_id, turn=turn, n=n)
    return out
