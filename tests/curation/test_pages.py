"""The curation pages render for staff and are closed (404) to annotators."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_pages_render_and_are_protected(project, staff) -> None:
    from annotation.services.projects import member_set
    from tests.factories import UserFactory

    client = Client()
    client.force_login(staff)
    for url in (f"/projects/{project.pk}/reward-models/", f"/projects/{project.pk}/curation/"):
        response = client.get(url)
        assert response.status_code == 200
        assert b"Chart.min.js" in response.content or b"Train a new model" in response.content
    annotator = UserFactory()
    member_set(project=project, user_id=annotator.pk, role="annotator")
    other = Client()
    other.force_login(annotator)
    # a member below the role gets the same 404 as a stranger or a missing project (11.11)
    assert other.get(f"/projects/{project.pk}/curation/").status_code == 404


def test_training_data_from_annotations(project, staff) -> None:
    from annotation.models import Annotation, ProjectItem
    from annotation.selectors.training_data import training_data
    from tests.factories import UserFactory

    pitems = list(ProjectItem.objects.filter(project=project, item__has_candidates=False)[:6])
    for _ in range(2):
        user = UserFactory()
        for i, pitem in enumerate(pitems):
            good = i % 2 == 0
            Annotation.objects.create(
                project=project,
                project_item=pitem,
                item_id=pitem.item_id,
                user=user,
                answers={
                    "faithful": good,
                    "no_hallucination": good,
                    "answerable": True,
                    "helpfulness": 5 if good else 1,
                    "clarity": 4,
                    "detail": 4,
                },
            )
    from annotation.services.imported_scores import imported_scores_to_annotations

    imported_scores_to_annotations(project=project)
    data = training_data(project=project)
    sources = data.summary()["pairs_by_source"]
    assert sources["import"] > 0
    item_pairs = [p for p in data.pairs if p.source == "rating"]
    assert item_pairs and all(p.chosen.is_whole_item for p in item_pairs)
    good_ids = {p.item_id for i, p in enumerate(pitems) if i % 2 == 0}
    assert all(p.chosen.item_id in good_ids for p in item_pairs)
    assert {t.criterion for t in data.targets} >= {"faithfulness", "helpfulness"}
    assert all(0.0 <= t.value <= 1.0 for t in data.targets)
