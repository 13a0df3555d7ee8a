"""The dashboard's figures: disputed items described and dropped once adjudicated, active
annotators, and an undefined agreement that says why."""

from __future__ import annotations

import numpy as np
import pytest

from annotation.selectors.agreement import (
    agreement_compute,
    answers_columns,
    components_build,
    project_agreement,
)
from annotation.selectors.progress import project_progress
from tests.engine.conftest import client_for, good_answers, submit

RATING = {
    "key": "r",
    "type": "rating",
    "prompt": "r",
    "labels": [{"value": v, "label": str(v)} for v in range(1, 6)],
}


def _report(rows_by_unit: list[list[int | None]], **kwargs):
    items, coders, answers = [], [], []
    for unit, ratings in enumerate(rows_by_unit):
        for coder, value in enumerate(ratings):
            if value is not None:
                items.append(unit + 1)
                coders.append(coder)
                answers.append({"r": value})
    components, _ = components_build(
        [RATING], np.asarray(items), np.asarray(coders), answers_columns([RATING], answers)
    )
    return agreement_compute(components, ["a", "b", "c"], **kwargs)


def test_undefined_agreement_says_why():
    # nobody overlaps: no item has two answers
    lone = _report([[5, None, None], [None, 2, None]])["questions"][0]
    assert lone["alpha"] is None and "two annotators" in lone["alpha_undefined"]
    # everyone always gives the same answer: no variation to measure agreement against
    same = _report([[4, 4, 4], [4, 4, None]])["questions"][0]
    assert same["alpha"] is None and "Every answer so far is the same" in same["alpha_undefined"]
    assert "2 items" in same["alpha_undefined"]
    # a defined alpha carries no reason
    assert "alpha_undefined" not in _report([[5, 5, 1], [1, 1, 1]])["questions"][0]


def test_settled_items_leave_the_disputed_list_but_stay_in_the_figures():
    rows = [[5, 5, 5], [1, 1, 1], [3, 3, 4], [5, 5, 1]]
    assert [d["item_id"] for d in _report(rows)["most_disagreement"]] == [4, 3]
    settled = _report(rows, settled_items=[4])
    assert [d["item_id"] for d in settled["most_disagreement"]] == [3]
    assert settled["questions"] == _report(rows)["questions"]


@pytest.mark.django_db
def test_disputed_items_show_category_and_answers_until_adjudicated(
    project, annotators, reviewer, owner
):
    # two of the three annotators answer every item, disagreeing on helpfulness
    for helpfulness, user in zip((5, 1), annotators[:2], strict=True):
        client = client_for(user)
        while (r := client.post(f"/api/v1/projects/{project.pk}/next/")).status_code == 200:
            answers = good_answers(helpfulness=helpfulness)
            submit(client, project.pk, r.json()["item"]["id"], answers)
    report = project_agreement(project=project)
    disputed = report["most_disagreement"]
    assert len(disputed) == 8
    first = disputed[0]
    assert {"detail"} <= {d["category"] for d in disputed}
    assert sorted(a["annotator"] for a in first["answers"]) == ["ann0", "ann1"]
    assert sorted(a["answers"]["helpfulness"] for a in first["answers"]) == [1, 5]
    # adjudicating an item takes it off the list
    r = client_for(reviewer).post(
        f"/api/v1/projects/{project.pk}/review/{first['item_id']}/",
        {"answers": {"helpfulness": 3}},
        format="json",
    )
    assert r.status_code == 200
    after = project_agreement(project=project)["most_disagreement"]
    assert first["item_id"] not in {d["item_id"] for d in after} and len(after) == 7
    # active annotators: the two who answered, not the five members (owner and reviewer too)
    progress = project_progress(project=project)
    assert progress["active_annotators"] == 2 and len(progress["per_annotator"]) >= 4


def test_a_question_nobody_answered_leaves_the_report_whole():
    # an optional multi-label question with no answer at all next to a rated one
    labels = {"key": "issues", "type": "multi_label", "prompt": "i", "options": ["a", "b"]}
    answers = [{"r": 5}, {"r": 1}]
    components, _ = components_build(
        [RATING, labels],
        np.asarray([1, 1]),
        np.asarray([0, 1]),
        answers_columns([RATING, labels], answers),
    )
    report = agreement_compute(components, ["a", "b"])
    assert [d["item_id"] for d in report["most_disagreement"]] == [1]
