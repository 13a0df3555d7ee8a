"""The dashboard reports position bias: an annotator who always picks the first-shown candidate
is flagged, from the display orders recorded with the answers."""

from __future__ import annotations

import pytest

from annotation.models import Annotation, ProjectItem
from tests.browser.conftest import login, shot
from tests.browser.data import has_candidates, seed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_dashboard_flags_an_annotator_who_picks_the_first_shown(page, tmp_path):
    data = seed(tmp_path, n_items=40)
    project, user = data["project"], data["annotators"][0]
    pitems = [
        p
        for p in ProjectItem.objects.filter(project=project).select_related("item")
        if has_candidates(p.item.external_id)
    ]
    assert len(pitems) >= 8
    for k, pitem in enumerate(pitems):
        shown = [0, 1, 2] if k % 2 else [1, 0, 2]
        # the pair is named in canonical order; the first shown always wins
        choice = "A" if shown[0] == 0 else "B"
        Annotation.objects.create(
            project=project,
            project_item=pitem,
            item=pitem.item,
            user=user,
            answers={"pair": {"turn": 1, "a": 0, "b": 1, "choice": choice}},
            display_order={"1": shown},
        )
    login(page, data["owner"].username)
    page.goto(f"/projects/{project.pk}/")
    row = page.locator('#position-bias tr[data-key="pair"]')
    row.wait_for()
    assert "Biased towards the first shown" in row.inner_text()
    assert "100%" in row.inner_text() and "50%" in row.inner_text()
    rank = page.locator('#position-bias tr[data-key="rank"]')
    assert "No shuffled answers yet" in rank.inner_text()
    row.scroll_into_view_if_needed()
    shot(page, "dashboard-position-bias")
