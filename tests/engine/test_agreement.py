"""Agreement figures checked against published examples, and the API report."""

from __future__ import annotations

import numpy as np
import pytest

from annotation.models import ProjectItem
from annotation.selectors.agreement import agreement_compute, answers_columns, components_build
from annotation.selectors.agreement_math import (
    alpha_from_counts,
    interval_delta,
    kendall_distance,
    masi_delta,
    nominal_delta,
    value_counts,
)
from tests.engine.conftest import client_for, good_answers, submit

# Fleiss (1971), Table 1: 30 patients, 6 psychiatrists, 5 diagnoses; Fleiss reports 0.430.
FLEISS_1971 = [
    "444444",
    "222555",
    "233335",
    "555555",
    "222444",
    "113333",
    "333355",
    "113334",
    "114444",
    "555555",
    "144444",
    "124444",
    "222333",
    "144444",
    "224445",
    "333335",
    "111455",
    "111112",
    "224444",
    "133555",
    "555555",
    "244444",
    "224555",
    "114444",
    "144445",
    "222224",
    "111155",
    "224444",
    "133333",
    "555555",
]

# Krippendorff (2011) "Computing Krippendorff's alpha-reliability", 4 coders x 12 units;
# published: nominal 0.743, ordinal 0.815, interval 0.849.
KRIPPENDORFF_2011 = [
    "123321412...",
    "1233224125.3",
    ".3332342251.",
    "12332441251.",
]
RATING = {
    "key": "r",
    "type": "rating",
    "prompt": "r",
    "labels": [{"value": v, "label": str(v)} for v in range(1, 6)],
}


def _rating_rows(rows_by_unit: list[list[int | None]]):
    items, coders, answers = [], [], []
    for unit, ratings in enumerate(rows_by_unit):
        for coder, value in enumerate(ratings):
            if value is not None:
                items.append(unit + 1)
                coders.append(coder)
                answers.append({"r": value})
    return np.asarray(items), np.asarray(coders), answers_columns([RATING], answers)


def test_fleiss_kappa_on_fleiss_1971():
    items, coders, answers = _rating_rows([[int(c) for c in row] for row in FLEISS_1971])
    components, _ = components_build([RATING], items, coders, answers)
    report = agreement_compute(components, [f"c{i}" for i in range(6)])
    question = report["questions"][0]
    assert question["fleiss_kappa"] == pytest.approx(0.430, abs=5e-4)
    assert question["fleiss_raters"] == 6 and question["fleiss_units"] == 30


def test_krippendorff_alpha_on_the_2011_example():
    units = list(zip(*KRIPPENDORFF_2011, strict=True))
    rows = [[None if c == "." else int(c) for c in unit] for unit in units]
    items, coders, answers = _rating_rows(rows)
    components, _ = components_build([RATING], items, coders, answers)
    report = agreement_compute(components, [f"c{i}" for i in range(4)])
    question = report["questions"][0]
    assert question["alpha"] == pytest.approx(0.815, abs=1e-3)  # ordinal
    assert question["alpha_interval"] == pytest.approx(0.849, abs=1e-3)
    # our own generic-distance alpha (used for MASI and rankings) agrees with the package
    comp = components[0]
    counts = value_counts(comp.unit, comp.code, len(comp.unit_item), 5)
    assert alpha_from_counts(counts, nominal_delta(5)) == pytest.approx(0.743, abs=1e-3)
    assert alpha_from_counts(counts, interval_delta(range(1, 6))) == pytest.approx(0.849, abs=1e-3)


def test_masi_and_rank_distances():
    sets = [frozenset("a"), frozenset("ab"), frozenset("c"), frozenset("a")]
    delta = masi_delta(sets)
    assert delta[0, 3] == 0 and delta[0, 2] == 1
    assert delta[0, 1] == pytest.approx(1 - 0.5 * 2 / 3)
    assert kendall_distance([[0], [1], [2]], [[2], [1], [0]]) == 1.0
    assert kendall_distance([[0], [1, 2]], [[0], [1], [2]]) == pytest.approx(0.5 / 3)


def test_majority_agreement_and_disagreement_ranking():
    # three coders on four items; coder 2 always dissents on item 4
    rows = [[5, 5, 5], [1, 1, 1], [3, 3, 4], [5, 5, 1]]
    items, coders, answers = _rating_rows(rows)
    components, _ = components_build([RATING], items, coders, answers)
    report = agreement_compute(components, ["a", "b", "c"])
    rates = {a["annotator"]: a["majority_agreement"] for a in report["annotators"]}
    assert rates == {"a": 1.0, "b": 1.0, "c": 0.5}
    assert [d["item_id"] for d in report["most_disagreement"]] == [4, 3]
    assert report["questions"][0]["cohen"][0]["shared"] == 4


@pytest.mark.django_db
def test_agreement_endpoint_reports_every_question(project, annotators, reviewer):
    clients = [client_for(u) for u in annotators[:2]]
    for helpfulness, client in zip((5, 2), clients, strict=True):
        while (r := client.post(f"/api/v1/projects/{project.pk}/next/")).status_code == 200:
            submit(
                client, project.pk, r.json()["item"]["id"], good_answers(helpfulness=helpfulness)
            )
    report = client_for(reviewer).get(f"/api/v1/projects/{project.pk}/agreement/").json()
    assert report["annotations"] == 16 and report["items"] == 8
    by_key = {q["key"]: q for q in report["questions"]}
    assert set(by_key) == {
        "faithful",
        "no_hallucination",
        "answerable",
        "helpfulness",
        "clarity",
        "detail",
        "best_answer",
    }
    assert by_key["best_answer"]["level"] == "rank"
    assert by_key["helpfulness"]["alpha"] < 0
    assert len(report["most_disagreement"]) == 8
    # review gives the conflicting items first, with both answers side by side
    review = client_for(reviewer).get(f"/api/v1/projects/{project.pk}/review/next/").json()
    assert len(review["annotations"]) == 2 and review["agreement"]["disagreement"] > 0
    item_id = review["item"]["id"]
    r = client_for(reviewer).post(
        f"/api/v1/projects/{project.pk}/review/{item_id}/",
        {"answers": {"helpfulness": 4}},
        format="json",
    )
    assert r.status_code == 200
    assert ProjectItem.objects.get(project=project, item_id=item_id).adjudicated
    nxt = client_for(reviewer).get(f"/api/v1/projects/{project.pk}/review/next/").json()
    assert nxt["item"]["id"] != item_id
    progress = client_for(reviewer).get(f"/api/v1/projects/{project.pk}/progress/").json()
    assert progress["done"] == 8 and progress["per_day"][0]["annotations"] == 16
