"""The rewriting pages in a browser: the review page's diff, keys and filters against a finished
rewriting built directly (no LLM), and the curation page's control that starts one."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from core.models import Job
from curation.models import DatasetItem, DatasetVersion
from rewrites.models import RewriteRun, RewriteTurn
from tests.browser.conftest import login, shot
from tests.browser.data import seed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

GUARDS = ("colours", "numbers", "objects", "spatial", "negation", "length", "similarity")
HOSTILE = "Look <script>alert(1)</script> at <b>this</b> red box."


LIVE_STATES = "queued|running"
ALL_STATES = "queued|running|succeeded|failed|cancelled"


def _answer_items(project, n: int) -> list:
    """Items whose answer is one string (candidate lists are not rewritten)."""
    items = [pi.item for pi in project.project_items.select_related("item").order_by("item_id")]
    return [i for i in items if isinstance(i.conversations[1]["value"], str)][:n]


def _source(project, items) -> DatasetVersion:
    source = DatasetVersion.objects.create(project=project, number=1, policy=[], n_items=len(items))
    DatasetItem.objects.bulk_create(DatasetItem(dataset=source, item=i, score=0.5) for i in items)
    return source


def _finished_rewrite(project) -> tuple[RewriteRun, list[RewriteTurn]]:
    items = _answer_items(project, 3)
    source = _source(project, items)
    result = DatasetVersion.objects.create(
        project=project, number=2, policy=[], n_items=len(items), derived_from=source
    )
    DatasetItem.objects.bulk_create(
        DatasetItem(dataset=result, item=i, score=0.5, conversations=i.conversations) for i in items
    )
    job = Job.objects.create(kind=Job.Kind.DATASET_REWRITE, status=Job.Status.SUCCEEDED)
    run = RewriteRun.objects.create(
        source=source, result=result, job=job, llm="tiny", prompt_version="v1", settings={},
        guards={}, shard_size=10, n_shards=1, shards_done=1,
    )  # fmt: skip
    ok = [{"name": "colours", "passed": True, "details": {}}]
    lost = [{"name": "colours", "passed": False, "details": {"lost": ["red"]}}]
    rows = [
        ("The cat sat on the red mat.", "A cat sat on the mat.", "rewrite", "accepted", ok),
        ("A box.", HOSTILE, "original", "guard:colours", lost),
        ("Two dogs run.", "Two dogs are running fast.", "original", "guard:numbers",
         [{"name": "numbers", "passed": False, "details": {"added": ["two"]}}]),
    ]  # fmt: skip
    turns = [
        RewriteTurn.objects.create(
            run=run,
            item=item,
            turn=0,
            field="answer",
            original=original,
            rewrite=rewrite,
            kept=kept,
            reason=reason,
            guards=guards,
            flagged=kept == "original",
            nll_original=1.5,
            nll_rewrite=1.2,
        )  # fmt: skip
        for item, (original, rewrite, kept, reason, guards) in zip(items, rows, strict=True)
    ]
    return run, turns


def _decisions(turns) -> list[str]:
    return [RewriteTurn.objects.get(pk=t.pk).decision for t in turns]


def test_review_page_diffs_escapes_and_stores_each_key(page, tmp_path) -> None:
    # given: a finished rewriting of three turns, two of them flagged by a guard
    data = seed(tmp_path, n_items=8)
    run, turns = _finished_rewrite(data["project"])
    page.on("dialog", lambda d: pytest.fail(f"a dialog opened: {d.message}"))
    login(page, data["reviewer"].username)
    page.goto(f"/datasets/{run.source_id}/rewrites/{run.pk}/review/")
    position = page.locator("#position")
    acceptance = page.locator("#acceptance")
    expect(position).to_have_text("1 of 3")

    # then: the word-level diff marks what the rewrite dropped and what it added
    diff = page.locator("#turn p.diff")
    assert diff.locator("del").all_inner_texts() == ["The", "red"]
    assert diff.locator("ins").all_inner_texts() == ["A"]
    expect(page.locator("#turn .guards li.ok")).to_have_text("✓ colours")

    # when: a accepts; the page moves on, the decision is stored, the rate is the server's
    page.keyboard.press("a")
    # the first decision imports the rewriting library (torch) in the server: a slow first answer
    expect(position).to_have_text("2 of 3", timeout=60_000)
    assert _decisions(turns) == ["accept", "", ""]
    expect(acceptance).to_have_text(re.compile(r"^1(\.0)? \(1 decided\)$"))

    # then: markup in a turn is text, never parsed; the failed guard is flagged with its details
    expect(diff).to_contain_text("<script>alert(1)</script>")
    assert diff.locator("ins", has_text="<b>this</b>").count() == 1
    assert page.locator("#turn script, #turn b").count() == 0
    expect(page.locator("#turn .guards li.flag")).to_contain_text('✗ colours {"lost":["red"]}')
    shot(page, "rewrite-review")

    # when: r rejects (the original is kept); the rate counts it
    page.keyboard.press("r")
    expect(position).to_have_text("3 of 3")
    assert _decisions(turns) == ["accept", "reject", ""]
    expect(acceptance).to_have_text("0.5 (2 decided)")

    # when: k goes back and u undoes: the LLM's outcome again, and the page stays on the turn
    page.keyboard.press("k")
    expect(position).to_have_text("2 of 3")
    page.keyboard.press("u")
    expect(page.locator("#turn")).to_contain_text("Decision: LLM: original (guard:colours)")
    expect(position).to_have_text("2 of 3")
    assert _decisions(turns) == ["accept", "", ""]
    expect(acceptance).to_have_text(re.compile(r"^1(\.0)? \(1 decided\)$"))

    # when: j moves on and e edits; Ctrl+Enter saves the edit into the new version
    page.keyboard.press("j")
    expect(position).to_have_text("3 of 3")
    page.keyboard.press("e")
    page.get_by_label("Edited text").fill("Two dogs run across the grass.")
    page.get_by_label("Edited text").press("Control+Enter")
    expect(page.locator("#turn")).to_contain_text("Decision: edit")
    assert _decisions(turns) == ["accept", "", "edit"]
    member = DatasetItem.objects.get(dataset_id=run.result_id, item_id=turns[2].item_id)
    assert member.conversations[1]["value"] == "Two dogs run across the grass."
    expect(acceptance).to_have_text(re.compile(r"^1(\.0)? \(2 decided\)$"))

    # when: only the flagged turns are shown
    page.get_by_label("flagged only").check()
    page.get_by_role("button", name="Show").click()
    expect(position).to_have_text("1 of 2")
    expect(page.locator("#turn h2")).to_have_text(f"Item {turns[1].item_id}, turn 1, answer")
    page.keyboard.press("j")
    expect(page.locator("#turn h2")).to_have_text(f"Item {turns[2].item_id}, turn 1, answer")


def test_owner_starts_a_rewriting_from_the_curation_page(page, tmp_path) -> None:
    # given: a committed dataset version (no worker runs: the job stays queued)
    data = seed(tmp_path, n_items=8)
    source = _source(data["project"], _answer_items(data["project"], 3))

    # then: a reviewer may review but not start a rewriting
    login(page, data["reviewer"].username)
    page.goto(f"/projects/{data['project'].pk}/curation/")
    expect(page.locator(f"#dataset-{source.pk}")).to_be_visible()
    assert page.locator("[data-rewrite-control]").count() == 0

    page.context.clear_cookies()
    # when: the owner opens the control, sets the LLM's settings, turns the guards off, starts it
    login(page, data["owner"].username)
    page.goto(f"/projects/{data['project'].pk}/curation/")
    control = page.locator(f'[data-rewrite-control="{source.pk}"]')
    control.get_by_text("Rewrite in the target LLM's style").click()
    control.get_by_label("Temperature").fill("0.7")
    control.get_by_label("Max new tokens").fill("32")
    control.get_by_label("questions too").check()
    control.get_by_label("guards", exact=False).uncheck()
    control.get_by_role("button", name="Start rewriting").click()

    # then: the run is created with those settings, and its row shows its state and review link
    rows = page.locator(f'[data-rewrites="{source.pk}"] li')
    expect(rows).to_have_count(1, timeout=60_000)
    run = RewriteRun.objects.get(source=source)
    assert run.settings["temperature"] == 0.7 and run.settings["max_new_tokens"] == 32
    assert tuple(run.settings["fields"]) == ("question", "answer")
    assert run.guards["colours"] is False and all(run.guards[g] is False for g in GUARDS)
    # queued, unless the session's shared worker (started by an earlier test) already took it
    expect(rows.first).to_contain_text(re.compile(rf"rewriting #{run.pk}: ({LIVE_STATES})"))
    link = rows.first.get_by_role("link", name=f"rewriting #{run.pk}")
    assert link.get_attribute("href") == f"/datasets/{source.pk}/rewrites/{run.pk}/review/"

    # when: it is started again while queued, the API's refusal is shown and nothing is added
    control.get_by_role("button", name="Start rewriting").click()
    expect(page.locator("#toast")).to_contain_text("already running")
    assert RewriteRun.objects.filter(source=source).count() == 1

    # then: the page reloaded follows the run; its review page opens
    page.reload()
    expect(rows.first).to_contain_text(re.compile(rf"rewriting #{run.pk}: ({ALL_STATES})"))
    link.click()
    expect(page.locator("#turn")).to_be_visible()
