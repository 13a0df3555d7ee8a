"""The dashboard: an undefined agreement says why, active annotators are those who answered,
and disputed items show their category and answers until a reviewer adjudicates them."""

from __future__ import annotations

import pytest

from annotation.services.review import adjudication_save
from tests.browser.conftest import login, shot
from tests.browser.data import seed
from tests.browser.test_admin_and_review import _answer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_dashboard_explains_agreement_and_lists_disputed_items(page, tmp_path):
    data = seed(tmp_path, n_items=3, overlap=2)
    project, (ann1, ann2) = data["project"], data["annotators"]
    # one annotator alone: nobody overlaps, so agreement is undefined, and says why
    _answer(project, ann1, 2, True)
    login(page, data["owner"].username)
    page.goto(f"/projects/{project.pk}/")
    page.locator("#agreement-why").wait_for()
    assert (
        "No item has answers from two annotators yet."
        in page.locator("#agreement-why").inner_text()
    )
    assert "quality" in page.locator("#agreement-undefined").inner_text()
    # members: two annotators and a reviewer; one of them has answered
    assert page.locator('[data-stat="annotators"]').inner_text() == "1"

    # both annotators answer all three items, disagreeing
    _answer(project, ann2, 5, False)
    for _ in range(2):
        _answer(project, ann1, 2, True)
        _answer(project, ann2, 5, False)
    page.reload()
    page.locator("#disputed tr[data-item-id]").first.wait_for()
    rows = page.locator("#disputed tr[data-item-id]")
    assert rows.count() == 3
    first = rows.first.inner_text()
    assert "detail" in first  # the category
    assert "ann1:" in first and "ann2:" in first and "quality 2" in first and "quality 5" in first
    assert page.locator('[data-stat="annotators"]').inner_text() == "2"
    assert page.locator("#agreement-why").is_hidden()
    shot(page, "dashboard-disputed")
    # an adjudicated item leaves the list
    settled = int(rows.first.get_attribute("data-item-id"))
    adjudication_save(
        project=project, item_id=settled, reviewer=data["reviewer"], answers={"quality": 3}
    )
    page.reload()
    page.locator("#disputed tr[data-item-id]").first.wait_for()
    ids = [int(r.get_attribute("data-item-id")) for r in rows.all()]
    assert len(ids) == 2 and settled not in ids
