"""Review at 1280x720: the item comes before the answers, a rating is prefilled with the
median, and every question shows the item's agreement beside the project's."""

from __future__ import annotations

import pytest

from tests.browser.conftest import login, shot
from tests.browser.data import seed
from tests.browser.test_admin_and_review import _answer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_review_shows_the_item_first_the_median_and_the_agreement(page, tmp_path):
    data = seed(tmp_path, n_items=3, overlap=2)
    project = data["project"]
    ann1, ann2 = data["annotators"]
    for _ in range(3):
        _answer(project, ann1, 1, True)
        _answer(project, ann2, 5, False)
    page.set_viewport_size({"width": 1280, "height": 720})
    login(page, data["reviewer"].username)
    page.goto(f"/projects/{project.pk}/review/")
    page.locator("#answers-table tbody tr").first.wait_for()
    # the item is on screen before the answers table
    chat = page.locator("#chat").bounding_box()
    table = page.locator("#answers-table").bounding_box()
    assert chat is not None and table is not None
    assert chat["y"] < 720 and chat["y"] < table["y"]
    assert page.locator("#chat").inner_text().strip()
    # ratings 1 and 5: the prefill is their median, 3, not the first answer
    chosen = page.locator('.q[data-key="quality"] [aria-checked="true"]')
    assert chosen.count() == 1 and chosen.get_attribute("aria-label").startswith("3 ")
    # per question: the item's own agreement and the project's alpha
    row = page.locator('#answers-table tr[data-question="quality"]')
    assert row.locator("[data-item-agreement]").inner_text() not in ("", "–")
    page.wait_for_function(
        '() => document.querySelector(\'#answers-table tr[data-question="quality"] '
        "[data-project-alpha]').textContent !== '–'"
    )
    shot(page, "review-1280x720")
