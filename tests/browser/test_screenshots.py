"""Screenshots of the main pages at 1280x800 into docs/screenshots (looked at by a person)."""

from __future__ import annotations

import pytest

from tests.browser.conftest import login, shot
from tests.browser.data import seed
from tests.browser.test_admin_and_review import _answer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_screenshots_of_workspace_dashboard_and_home(page, tmp_path):
    data = seed(tmp_path, n_items=12, overlap=2)
    project = data["project"]
    ann1, ann2 = data["annotators"]
    for i in range(6):
        _answer(project, ann1, i % 5 + 1, i % 2 == 0)
    for i in range(4):
        _answer(project, ann2, (i + 2) % 5 + 1, i % 3 == 0)

    login(page, ann2.username)
    shot(page, "home")
    page.goto(f"/projects/{project.pk}/annotate/")
    page.wait_for_function("() => document.body.dataset.shown === '0'")
    # An item with candidates: rating, binary, multi-label, pairwise, ranking, rules, text.
    while not page.evaluate("window.arbiterWorkspace.form.cand"):
        seq = page.evaluate("window.arbiterWorkspace.state.seq")
        page.keyboard.press("s")
        page.wait_for_function(f"() => document.body.dataset.shown === '{seq + 1}'")
    for key in ["4", "1", "ArrowUp", "1", "ArrowDown", "1", "3", "Shift+1"]:
        page.keyboard.press(key)
    shot(page, "workspace-controls")
    page.locator("#rubric-form .q[data-type=rule_verdict]").scroll_into_view_if_needed()
    page.keyboard.press("1")
    shot(page, "workspace-rules")
    page.keyboard.press("?")
    page.locator("#keys").wait_for(state="visible")
    shot(page, "workspace-keys")
    page.keyboard.press("Escape")

    page.context.clear_cookies()
    login(page, data["owner"].username)
    page.goto(f"/projects/{project.pk}/")
    page.wait_for_function("() => document.getElementById('updated').textContent !== ''")
    page.wait_for_timeout(400)
    shot(page, "dashboard")
    page.set_viewport_size({"width": 1280, "height": 1400})
    shot(page, "dashboard-full")
