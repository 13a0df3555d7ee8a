"""An annotator does 20 items with the keyboard only; the database holds exactly those answers."""

from __future__ import annotations

import pytest

from annotation.models import Annotation
from tests.browser.conftest import login
from tests.browser.data import has_candidates, seed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _keys_for(i: int, shown: list[int] | None) -> tuple[list[str], dict]:
    """The key presses for item `i` and the answers they must produce.

    `shown` is the assignment's candidate order: keys and letters follow the screen, answers
    name candidates by their index in the item, so each expectation maps back through it.
    """
    candidates = shown is not None
    keys = [str(i % 5 + 1), "1" if i % 2 == 0 else "2"]
    answers: dict = {"quality": i % 5 + 1, "faithful": i % 2 == 0}
    if i % 3 == 0:
        # Back up to the multi-label question (auto-advance skipped it), tick two labels.
        keys += ["ArrowUp", "1", "3", "ArrowDown"]
        answers["issues"] = ["hallucination", "off-topic"]
    if candidates:
        keys += ["2"]  # pairwise: B (the second shown) is better
        answers["pair"] = {"a": shown[0], "b": shown[1], "turn": 1, "choice": "B"}
        if i % 8 == 0:
            keys += ["3", "Shift+1"]  # C first, A tied with it, B last (placed automatically)
            answers["rank"] = {"turn": 1, "ranking": [[shown[2], shown[0]], [shown[1]]]}
        else:
            keys += ["2", "1"]
            answers["rank"] = {"turn": 1, "ranking": [[shown[1]], [shown[0]], [shown[2]]]}
    if i == 1:
        keys += ["1", "3"]
        answers["safety"] = {
            "violence": {"verdict": "violates", "rationale": ""},
            "privacy": {"verdict": "unsure", "rationale": ""},
        }
    else:
        keys += ["2", "2"]
        answers["safety"] = {
            "violence": {"verdict": "does_not_violate", "rationale": ""},
            "privacy": {"verdict": "does_not_violate", "rationale": ""},
        }
    if i == 2:
        keys += ["r", *"too dark", "Escape"]
        answers["why"] = "too dark"
    return keys, answers


def _same(got: dict, want: dict) -> bool:
    def clean(d: dict) -> dict:
        return {k: v for k, v in d.items() if v not in ([], "", None)}

    return clean(got) == clean(want)


def test_twenty_items_with_the_keyboard_only(page, tmp_path):
    data = seed(tmp_path, n_items=20)
    project, user = data["project"], data["annotators"][0]
    login(page, user.username)
    page.goto(f"/projects/{project.pk}/annotate/")
    page.wait_for_function("() => document.body.dataset.shown === '0'")
    expected: dict[str, dict] = {}
    orders: set[tuple[int, ...]] = set()
    for n in range(1, 21):
        external_id = page.evaluate("window.arbiterWorkspace.state.current.item.external_id")
        i = int(external_id)
        shown = None
        if has_candidates(external_id):
            shown = page.evaluate(
                "window.arbiterWorkspace.state.current.assignment.candidate_order['1']"
            )
            orders.add(tuple(shown))
            # the conversation shows the candidates in that order, lettered from A
            cards = page.locator("#chat .cand").evaluate_all(
                "(nodes) => nodes.map((n) => Number(n.dataset.cand))"
            )
            assert cards == shown
        keys, answers = _keys_for(i, shown)
        for key in keys:
            page.keyboard.press(key)
        seq = page.evaluate("window.arbiterWorkspace.state.seq")
        page.keyboard.press("Enter")
        expected[external_id] = answers
        # Each submit numbers the next item shown; wait until that one is fully on screen.
        page.wait_for_function(f"() => document.body.dataset.shown === '{seq + 1}'")
        if n == 5:
            # Undo the 5th submit: it comes back with its answers, is changed and re-submitted,
            # then the held item returns.
            held = page.evaluate("window.arbiterWorkspace.state.current.item.external_id")
            page.keyboard.press("u")
            page.locator("#editing").wait_for(state="visible")
            assert (
                page.evaluate("window.arbiterWorkspace.state.current.item.external_id")
                == external_id
            )
            # The first question is active again; 5 changes the rating.
            page.keyboard.press("5")
            expected[external_id]["quality"] = 5
            page.keyboard.press("Enter")
            page.wait_for_function(
                f"() => window.arbiterWorkspace.state.current.item.external_id === '{held}'"
                f" && document.body.dataset.shown === '{seq + 2}'"
            )
    page.locator("#ws-empty").wait_for(state="visible")
    # one answer per item (overlap 1) and every item answered: the page says the project is done
    page.get_by_text("This project is complete.").wait_for()

    rows = {
        a.item.external_id: a for a in Annotation.objects.filter(user=user).select_related("item")
    }
    assert set(rows) == set(expected) and len(rows) == 20
    for external_id, want in expected.items():
        assert _same(rows[external_id].answers, want), (
            external_id,
            rows[external_id].answers,
            want,
        )
    edited = [a for a in rows.values() if a.revision == 2]
    assert len(edited) == 1 and edited[0].answers["quality"] == 5
    kinds = {k for a in rows.values() for k in a.answers}
    assert {"pair", "rank", "safety"} <= kinds
    # candidates came in more than one order, and each answer records the order it was shown in
    assert len(orders) >= 2
    for external_id, annotation in rows.items():
        if has_candidates(external_id):
            assert annotation.display_order["1"][0] in (
                annotation.answers["pair"]["a"],
                annotation.answers["pair"]["b"],
            )
