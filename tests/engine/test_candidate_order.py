"""Candidates shown in a random order per assignment, recorded with the answer; position bias."""

from __future__ import annotations

from collections import Counter

import pytest

from annotation.models import Annotation
from annotation.selectors.position_bias import bias_test, position_bias_of
from annotation.services.candidate_order import candidate_permutation, display_order_for
from tests.engine.conftest import client_for, good_answers, submit

PAIR_Q = [{"key": "pref", "type": "pairwise"}]
RANK_Q = [{"key": "rank", "type": "ranking"}]


def test_the_order_is_a_fixed_permutation_per_assignment_and_uniform_over_them():
    assert candidate_permutation(assignment_id=7, turn=1, n=4) == candidate_permutation(
        assignment_id=7, turn=1, n=4
    )
    firsts = Counter()
    for assignment_id in range(3000):
        order = candidate_permutation(assignment_id=assignment_id, turn=1, n=3)
        assert sorted(order) == [0, 1, 2]
        firsts[order[0]] += 1
    # each candidate is shown first about a third of the time (3000 draws: sd ~26)
    assert all(880 < firsts[c] < 1120 for c in range(3)), firsts


def test_display_order_covers_candidate_turns_only():
    conversations = [
        {"from": "human", "value": "q"},
        {"from": "gpt", "value": ["x", "y"]},
        {"from": "human", "value": "q2"},
        {"from": "gpt", "value": "plain"},
    ]
    order = display_order_for(assignment_id=3, conversations=conversations, questions=["a", "b"])
    assert set(order) == {"1", "questions"}
    assert sorted(order["1"]) == [0, 1] and sorted(order["questions"]) == [0, 1]
    assert display_order_for(assignment_id=3, conversations=None, questions=None) == {}


@pytest.mark.django_db
def test_a_reload_shows_the_same_order_and_submit_records_it(project, annotators):
    client = client_for(annotators[0])
    url = f"/api/v1/projects/{project.pk}/next/"
    first = client.post(url).json()
    again = client.post(url).json()  # a reload: the same lease, the same order
    assert again["item"]["id"] == first["item"]["id"]
    order = first["assignment"]["candidate_order"]
    assert order == again["assignment"]["candidate_order"]
    assert sorted(order["1"]) == [0, 1, 2]
    assert submit(client, project.pk, first["item"]["id"], good_answers()).status_code == 201
    annotation = Annotation.objects.get(user=annotators[0])
    assert annotation.display_order == order
    mine = client.get(f"/api/v1/projects/{project.pk}/annotations/mine/?limit=1").json()
    assert mine[0]["display_order"] == order


@pytest.mark.django_db
def test_orders_differ_between_annotators_of_an_item(project, annotators):
    orders = set()
    for user in annotators:
        client = client_for(user)
        for _ in range(4):
            lease = client.post(f"/api/v1/projects/{project.pk}/next/").json()
            orders.add(tuple(lease["assignment"]["candidate_order"]["1"]))
            submit(client, project.pk, lease["item"]["id"])
    assert len(orders) >= 3  # 12 draws of 6 permutations: all alike by chance is ~1e-9


def _pair(a, b, choice, turn=1):
    return {"turn": turn, "a": a, "b": b, "choice": choice}


def test_always_choosing_the_first_shown_is_reported_as_bias():
    rows = []
    for k in range(40):
        order = [0, 1] if k % 2 else [1, 0]
        first = order[0]
        # the annotator names the pair in either direction; the first shown always wins
        choice = "A" if first == 0 else "B"
        rows.append(({"pref": _pair(0, 1, choice)}, {"1": order}))
    [entry] = position_bias_of(PAIR_Q, rows)
    assert entry["answers"] == 40 and entry["first_shown"] == 40 and entry["share"] == 1.0
    assert entry["expected"] == 0.5 and entry["biased"] and entry["p_value"] < 1e-9
    assert entry["interval"][0] > 0.9


def test_choices_by_content_are_not_reported_as_bias_and_ties_are_left_out():
    rows = []
    for k in range(40):
        order = [0, 1] if k % 2 else [1, 0]
        rows.append(({"pref": _pair(0, 1, "A")}, {"1": order}))  # candidate 0 is simply better
    rows.append(({"pref": _pair(0, 1, "tie")}, {"1": [0, 1]}))
    rows.append(({"pref": _pair(0, 1, "A")}, {}))  # shown before orders were recorded
    [entry] = position_bias_of(PAIR_Q, rows)
    assert entry["answers"] == 40 and entry["share"] == 0.5
    assert not entry["biased"] and entry["p_value"] > 0.5
    low, high = entry["interval"]
    assert low < 0.5 < high


def test_ranking_bias_counts_untied_first_places_against_one_in_n():
    rows = [
        ({"rank": {"turn": 1, "ranking": [[order[0]], [order[1], order[2]]]}}, {"1": order})
        for order in ([0, 1, 2], [2, 0, 1], [1, 2, 0]) * 10
    ]
    rows.append(({"rank": {"turn": 1, "ranking": [[0, 1], [2]]}}, {"1": [0, 1, 2]}))
    [entry] = position_bias_of(RANK_Q, rows)
    assert entry["answers"] == 30 and entry["share"] == 1.0
    assert entry["expected"] == pytest.approx(1 / 3) and entry["biased"]


def test_mixed_chances_use_the_normal_approximation():
    outcomes = [(True, 0.5)] * 10 + [(False, 0.25)] * 10
    result = bias_test(outcomes)
    assert result["expected"] == pytest.approx(0.375)
    assert 0 < result["p_value"] < 1
    assert bias_test([])["share"] is None and not bias_test([])["biased"]


@pytest.mark.django_db
def test_the_agreement_report_has_position_bias(project, annotators, reviewer):
    for user in annotators:
        client = client_for(user)
        lease = client.post(f"/api/v1/projects/{project.pk}/next/").json()
        submit(client, project.pk, lease["item"]["id"])
    report = client_for(reviewer).get(f"/api/v1/projects/{project.pk}/agreement/").json()
    [entry] = report["position_bias"]
    assert entry["key"] == "best_answer" and entry["type"] == "ranking"
    assert entry["answers"] == 3


def test_a_question_nobody_answered_has_no_disagreement():
    import numpy as np

    from annotation.selectors.agreement_math import unit_disagreement

    out = unit_disagreement(np.zeros((3, 0)), np.zeros((0, 0)))
    assert out.shape == (3,) and np.isnan(out).all()
