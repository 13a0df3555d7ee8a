"""The annotator's status line moves with each submit, the footer shows only the actions that
apply, and an empty queue says whether the project is complete or waits for others."""

from __future__ import annotations

import pytest

from annotation.services.queue import item_next
from annotation.services.submit import annotation_submit
from tests.browser.conftest import login, shot
from tests.browser.data import has_candidates, seed
from tests.browser.test_annotator_keyboard import _keys_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _status(page) -> str:
    return page.locator("#status").inner_text()


def _answer_current(page) -> None:
    external_id = page.evaluate("window.arbiterWorkspace.state.current.item.external_id")
    shown = None
    if has_candidates(external_id):
        # the candidates' order on screen (random per assignment): keys follow the screen
        shown = page.evaluate(
            "window.arbiterWorkspace.state.current.assignment.candidate_order['1']"
        )
    keys, _ = _keys_for(int(external_id), shown)
    for key in keys:
        page.keyboard.press(key)
    seq = page.evaluate("window.arbiterWorkspace.state.seq")
    page.keyboard.press("Enter")
    page.wait_for_function(f"() => document.body.dataset.shown === '{seq + 1}'")


def test_progress_moves_and_the_empty_queue_says_why(page, tmp_path):
    data = seed(tmp_path, n_items=2, overlap=2)
    project, (first, second) = data["project"], data["annotators"]
    login(page, first.username)
    page.goto(f"/projects/{project.pk}/annotate/")
    page.wait_for_function("() => document.body.dataset.shown === '0'")
    page.wait_for_function("() => document.querySelector('#status').textContent.includes('0/2')")
    # nothing of mine to undo yet; skip and postpone apply to the held item
    assert page.locator("#btn-undo").is_hidden()
    assert page.locator("#btn-skip").is_visible() and page.locator("#btn-postpone").is_visible()

    _answer_current(page)
    page.wait_for_function("() => document.querySelector('#status').textContent.includes('mine 1')")
    assert page.locator("#btn-undo").is_visible()
    # editing an earlier answer: skip and postpone do not apply to it
    page.keyboard.press("u")
    page.locator("#editing").wait_for(state="visible")
    assert page.locator("#btn-skip").is_hidden() and page.locator("#btn-postpone").is_hidden()
    page.keyboard.press("Enter")
    page.locator("#editing").wait_for(state="hidden")
    page.locator("#btn-skip").wait_for(state="visible")

    _answer_current(page)
    # my part is done, the overlap of 2 is not: the page says it waits for the others
    page.locator("#ws-empty").wait_for(state="visible")
    page.get_by_text("You have answered every item you can.").wait_for()
    assert "2 of your items still need answers" in page.locator("#ws-empty p").inner_text()
    assert page.locator("#btn-skip").is_hidden() and page.locator("#btn-submit").is_hidden()
    assert "mine 2" in _status(page) and "project 0/2 items" in _status(page)
    shot(page, "workspace-waiting-for-others")

    # the second annotator answers both items; checking again shows a complete project
    for _ in range(2):
        lease = item_next(project_id=project.pk, user=second)
        external_id = lease.item["external_id"]
        # submitted without a screen: the candidates in their own order
        canonical = [0, 1, 2] if has_candidates(external_id) else None
        _, answers = _keys_for(int(external_id), canonical)
        annotation_submit(
            project_id=project.pk,
            user=second,
            item_id=lease.item["id"],
            answers=answers,
            client_key=None,
        )
    page.get_by_role("button", name="Check again").click()
    page.get_by_text("This project is complete.").wait_for()
    page.wait_for_function("() => document.querySelector('#status').textContent.includes('2/2')")
    assert page.evaluate("document.body.dataset.queueState") == "complete"
