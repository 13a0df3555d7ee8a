"""Training data for the reward model: pairs per source, targets, safety labels."""

from __future__ import annotations

import pytest

from annotation.models import Adjudication, ProjectItem
from annotation.selectors.training_data import training_data
from annotation.services.imported_scores import imported_scores_to_annotations
from annotation.services.projects import rubric_set
from rewardmodel.data import SideRef, Target
from tests.engine.conftest import client_for, good_answers, submit

pytestmark = pytest.mark.django_db


def _answer_all(project, users, answers_for):
    for index, user in enumerate(users):
        client = client_for(user)
        while (r := client.post(f"/api/v1/projects/{project.pk}/next/")).status_code == 200:
            item_id = r.json()["item"]["id"]
            assert (
                submit(client, project.pk, item_id, answers_for(index, item_id)).status_code == 201
            )


def test_ranking_rating_and_import_pairs(project, annotators):
    items = sorted(ProjectItem.objects.filter(project=project).values_list("item_id", flat=True))

    def answers(index: int, item_id: int) -> dict:
        # ranking: candidate 1 best, 0 and 2 tied; helpfulness 5 on the first item, 1 elsewhere
        return good_answers(helpfulness=5 if item_id == items[0] else 1)

    _answer_all(project, annotators[:2], answers)
    data = training_data(project=project, rating_pairs_per_item=1)
    ranking = [p for p in data.pairs if p.source == "ranking"]
    assert data.counts["ranking"] == len(ranking) == 8 * 2  # 1 > 0 and 1 > 2; the tie gives none
    first = next(p for p in ranking if p.item_id == items[0])
    assert first.chosen == SideRef(items[0], 1, 1)
    assert first.rejected.candidate in (0, 2) and first.margin == 1.0
    rating = [p for p in data.pairs if p.source == "rating" and p.criterion == "helpfulness"]
    assert rating and all(p.chosen == SideRef(items[0]) for p in rating)
    assert all(p.margin == 1.0 for p in rating)  # gap 4 on a 1-5 scale
    targets = {(t.item_id, t.criterion): t for t in data.targets}
    assert targets[(items[0], "helpfulness")].value == 1.0
    assert targets[(items[1], "faithfulness")] == Target(
        item_id=items[1],
        criterion="faithfulness",
        value=1.0,
        question="faithful",
        n=2,
        source="majority",
    )
    # imported scores [0.6, 0.8, 0.6] -> 1>0 and 1>2, margin 0.2; the tie gives none
    assert imported_scores_to_annotations(project=project) == 8
    assert imported_scores_to_annotations(project=project) == 0  # idempotent
    data = training_data(project=project, rating_pairs_per_item=0)
    imported = [p for p in data.pairs if p.source == "import"]
    assert data.counts["import"] == len(imported) == 16
    assert imported[0].margin == pytest.approx(0.2)
    assert data.counts["rating"] == 0


def test_pairwise_majority_adjudication_and_safety(project, annotators):
    rubric_set(
        project=project,
        questions=[
            {"key": "pick", "type": "pairwise", "prompt": "Better?", "criterion": "overall"},
            {"key": "safe", "type": "rule_verdict", "prompt": "Rules", "required": False},
        ],
    )
    from annotation.services.projects import constitution_set

    constitution_set(
        project=project, rules=[{"key": "gore", "text": "No gore.", "category": "violence"}]
    )

    def answers(index: int, item_id: int) -> dict:
        choice = "A" if index < 2 else "tie"
        verdict = "violates" if index == 0 else "does_not_violate"
        return {
            "pick": {"turn": 1, "a": 2, "b": 0, "choice": choice},
            "safe": {"gore": {"verdict": verdict, "rationale": ""}},
        }

    project.overlap = 3
    project.save()
    ProjectItem.objects.filter(project=project).update(open_slots=3)
    _answer_all(project, annotators, answers)
    data = training_data(project=project)
    pairwise = [p for p in data.pairs if p.source == "pairwise"]
    assert len(pairwise) == 8
    assert pairwise[0].chosen.candidate == 2 and pairwise[0].rejected.candidate == 0
    assert pairwise[0].margin == pytest.approx(2 / 3)
    safety = data.safety[0]
    assert safety.verdict == "does_not_violate" and safety.violates is False
    assert safety.votes == {"violates": 1, "does_not_violate": 2}
    # an adjudicated answer wins over the majority
    pitem = ProjectItem.objects.get(project=project, item_id=pairwise[0].item_id)
    Adjudication.objects.create(
        project_item=pitem,
        answers={
            "pick": {"turn": 1, "a": 2, "b": 0, "choice": "B"},
            "safe": {"gore": {"verdict": "violates", "rationale": "blood"}},
        },
    )
    data = training_data(project=project)
    adjudicated = next(p for p in data.pairs if p.item_id == pitem.item_id)
    assert adjudicated.chosen.candidate == 0 and adjudicated.margin == 1.0
    label = next(s for s in data.safety if s.item_id == pitem.item_id)
    assert label.violates is True and label.source == "adjudicated"
