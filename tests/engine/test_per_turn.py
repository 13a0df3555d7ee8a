"""Rubric questions asked per answer turn of multi-turn items: validation, agreement, training."""

from __future__ import annotations

import pytest

from annotation.models import ProjectMembership
from annotation.selectors.agreement import project_agreement
from annotation.selectors.agreement_math import item_disagreement
from annotation.selectors.training_data import training_data
from annotation.services.projects import member_set, project_create
from annotation.services.rubric import (
    AnswersInvalid,
    RubricInvalid,
    answer_turns,
    answers_clean,
    answers_match,
    rubric_questions_clean,
)
from corpora.models import Item
from curation.services.item_recipe import _item_level, _per_turn_pairs
from rewardmodel.data import Target
from tests.engine.conftest import client_for, submit
from tests.factories import CorpusFactory, ItemFactory, UserFactory

CONVERSATION = [
    {"from": "human", "value": "<image>\nWhat is this?"},
    {"from": "gpt", "value": "A park."},
    {"from": "human", "value": "How many dogs?"},
    {"from": "gpt", "value": "Three dogs."},
]
QUESTIONS = [
    {
        "key": "correct",
        "type": "rating",
        "per_turn": True,
        "labels": [{"value": v, "label": str(v)} for v in range(1, 6)],
    },
    {"key": "safe", "type": "binary", "per_turn": True},
    {"key": "overall", "type": "binary"},
]


def _item(**kwargs) -> Item:
    return Item(conversations=CONVERSATION, questions=None, **kwargs)


def test_per_turn_is_kept_for_plain_questions_and_refused_for_comparisons():
    clean = rubric_questions_clean(QUESTIONS)
    assert clean[0]["per_turn"] and clean[1]["per_turn"] and "per_turn" not in clean[2]
    with pytest.raises(RubricInvalid) as caught:
        rubric_questions_clean([{"key": "pair", "type": "pairwise", "per_turn": True}])
    assert "per_turn" in str(caught.value.errors)


def test_per_turn_answers_name_every_answer_turn():
    questions = rubric_questions_clean(QUESTIONS)
    assert answer_turns(CONVERSATION) == [1, 3]
    good = {"correct": {"1": 5, "3": 2}, "safe": {"1": True, "3": True}, "overall": True}
    assert answers_clean(questions=questions, answers=good, item=_item()) == good
    with pytest.raises(AnswersInvalid) as caught:
        answers_clean(
            questions=questions,
            answers={**good, "correct": {"1": 5}, "safe": {"1": True, "2": False, "3": True}},
            item=_item(),
        )
    errors = caught.value.errors
    assert errors["correct"] == ["Turn 3: this question is required."]
    assert "Not answer turns of this item: 2" in errors["safe"][0]
    with pytest.raises(AnswersInvalid) as caught:
        answers_clean(questions=questions, answers={**good, "correct": 4}, item=_item())
    assert "correct" in caught.value.errors
    with pytest.raises(AnswersInvalid) as caught:
        answers_clean(
            questions=questions, answers={**good, "correct": {"1": 9, "3": 2}}, item=_item()
        )
    assert caught.value.errors["correct"][0].startswith("Turn 1: Give one of")
    # a draft may leave turns open
    partial = answers_clean(
        questions=questions, answers={"correct": {"1": 5}}, item=_item(), partial=True
    )
    assert partial == {"correct": {"1": 5}}


def test_gold_compares_per_turn_answers_turn_by_turn():
    assert answers_match({"correct": {"1": 5, "3": 2}}, {"correct": {"3": 2, "1": 5}})
    assert not answers_match({"correct": {"1": 5, "3": 2}}, {"correct": {"1": 5, "3": 3}})
    # rule verdicts keyed by digit rule keys still compare verdicts only
    assert answers_match(
        {"rules": {"1": {"verdict": "violates", "rationale": "a"}}},
        {"rules": {"1": {"verdict": "violates", "rationale": "b"}}},
    )


def test_disagreement_of_an_item_counts_each_turn():
    questions = rubric_questions_clean(QUESTIONS[:1])
    same = [{"correct": {"1": 5, "3": 2}}, {"correct": {"1": 5, "3": 2}}]
    split = [{"correct": {"1": 5, "3": 1}}, {"correct": {"1": 5, "3": 5}}]
    assert item_disagreement(questions, same) == 0.0
    # turn 1 agrees, turn 3 is a full-scale split: the mean over turns is one half
    assert item_disagreement(questions, split) == pytest.approx(0.5)


@pytest.fixture
def multi_turn_project(db):
    corpus = CorpusFactory()
    ItemFactory.create_batch(6, corpus=corpus, conversations=CONVERSATION, has_candidates=False)
    owner = UserFactory(username="boss", is_staff=True)
    project = project_create(
        name="turns", corpora=[corpus], created_by=owner, questions=QUESTIONS, overlap=2
    )
    users = [UserFactory(username=f"t{i}") for i in range(2)]
    for user in users:
        member_set(project=project, user_id=user.pk, role=ProjectMembership.Role.ANNOTATOR)
    return project, users


def _annotate(project, users, answers_for) -> list[int]:
    items = []
    for index, user in enumerate(users):
        client = client_for(user)
        while True:
            r = client.post(f"/api/v1/projects/{project.pk}/next/")
            if r.status_code == 204:
                break
            item_id = r.json()["item"]["id"]
            response = submit(client, project.pk, item_id, answers_for(index, item_id))
            assert response.status_code == 201, response.json()
            items.append(item_id)
    return items


def test_agreement_and_training_data_use_each_turn(multi_turn_project):
    project, users = multi_turn_project

    def answers(index: int, item_id: int) -> dict:
        # both annotators agree on turn 1 (good) and turn 3 (bad) except on the odd items
        turn3 = 1 if index == 0 or item_id % 2 == 0 else 3
        return {
            "correct": {"1": 5, "3": turn3},
            "safe": {"1": True, "3": item_id % 3 != 0},
            "overall": True,
        }

    _annotate(project, users, answers)
    report = project_agreement(project=project)
    correct = next(q for q in report["questions"] if q["key"] == "correct")
    # 6 items x 2 answer turns, each answered by both annotators
    assert correct["units"] == 12 and correct["pairable_units"] == 12
    safe = next(q for q in report["questions"] if q["key"] == "safe")
    assert safe["alpha"] == pytest.approx(1.0)

    data = training_data(project=project)
    per_turn = [t for t in data.targets if t.question == "correct"]
    assert {t.turn for t in per_turn} == {1, 3} and len(per_turn) == 12
    turn1 = [t for t in per_turn if t.turn == 1]
    assert all(t.value == 1.0 for t in turn1)
    whole = [t for t in data.targets if t.question == "overall"]
    assert all(t.turn is None for t in whole) and len(whole) == 6


def test_the_item_recipe_folds_turns_and_pairs_them_within_an_item():
    targets = [
        Target(7, "correct", 1.0, "correct", 2, "mean", turn=1),
        Target(7, "correct", 0.25, "correct", 2, "mean", turn=3),
        Target(7, "correct", 0.9, "correct", 2, "mean", turn=5),
        Target(7, "overall", 1.0, "overall", 2, "majority"),
    ]
    folded = _item_level(targets)
    assert sorted((t.criterion, t.value, t.turn) for t in folded) == [
        ("correct", 0.25, None),
        ("overall", 1.0, None),
    ]
    refs = {("7", 1, None): "r1", ("7", 3, None): "r3", ("7", 5, None): "r5"}
    pairs = _per_turn_pairs(targets, refs)
    # turn 1 and 5 are within the gap of each other; both beat turn 3
    assert sorted((p.chosen, p.rejected) for p in pairs) == [("r1", "r3"), ("r5", "r3")]
    assert all(p.item_id == "7" and p.margin >= 0.25 for p in pairs)
