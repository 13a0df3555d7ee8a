"""An admin imports a corpus (real worker) and creates a project from a preset; a reviewer
adjudicates a conflict with the keyboard. Screenshots of these pages go to docs/screenshots."""

from __future__ import annotations

import json
import zipfile

import pytest

from annotation.models import Adjudication, Project
from annotation.services.queue import item_next
from annotation.services.submit import annotation_submit
from corpora.models import Item
from tests.browser.conftest import login, shot
from tests.browser.data import seed, write_corpus

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_admin_imports_a_corpus_and_creates_a_project(page, worker, tmp_path):
    from tests.factories import StaffFactory

    StaffFactory(username="admin")
    source = write_corpus(tmp_path, 30)
    archive = tmp_path / "images.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for image in (tmp_path / "images").iterdir():
            bundle.write(image, image.name)
    login(page, "admin")
    page.goto("/corpora/")
    page.get_by_label("Name of the new corpus").fill("shapes")
    page.get_by_label("LLaVA JSON or JSONL file").set_input_files(str(source))
    page.get_by_label("Images archive (.zip / .tar, optional)").set_input_files(str(archive))
    page.get_by_role("button", name="Start import").click()
    page.locator("#job-status", has_text="succeeded").wait_for(timeout=90_000)
    assert "created: 30" in page.locator("#job-result").inner_text()
    shot(page, "import-finished")

    # A broken file: the problems table names the record and field.
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"id": "x1", "image": "0.png"}]))
    page.get_by_label("Corpus", exact=True).select_option(label="shapes")
    page.get_by_label("LLaVA JSON or JSONL file").set_input_files(str(bad))
    page.get_by_label("Images archive (.zip / .tar, optional)").set_input_files([])
    page.get_by_role("button", name="Start import").click()
    page.locator("#job-status", has_text="failed").wait_for(timeout=90_000)
    assert "conversations" in page.locator("#problems").inner_text()
    shot(page, "import-errors")

    page.goto("/projects/new/")
    page.get_by_label("Name", exact=True).fill("Safety pass")
    page.get_by_label("shapes").check()
    page.get_by_label("Rubric preset").select_option("safety_constitution")
    page.get_by_label("Annotators per item").fill("2")
    page.get_by_role("button", name="Create project").click()
    page.wait_for_url("**/edit/?created=1")
    page.locator("#rules .q-edit").first.wait_for()
    project = Project.objects.get(name="Safety pass")
    assert project.overlap == 2 and project.project_items.count() == 30
    assert [q["type"] for q in project.rubric.questions][0] == "rule_verdict"
    shot(page, "project-editor")


def _answer(project, user, quality: int, faithful: bool) -> None:
    lease = item_next(project_id=project.pk, user=user)
    item = Item.objects.get(pk=lease.item["id"])
    answers = {
        "quality": quality,
        "faithful": faithful,
        "safety": {
            "violence": {"verdict": "does_not_violate", "rationale": ""},
            "privacy": {"verdict": "does_not_violate", "rationale": ""},
        },
    }
    if item.has_candidates:
        answers["pair"] = {"a": 0, "b": 1, "turn": 1, "choice": "A"}
        answers["rank"] = {"turn": 1, "ranking": [[0], [1], [2]]}
    annotation_submit(
        project_id=project.pk, user=user, item_id=item.pk, answers=answers, client_key=None
    )


def test_reviewer_adjudicates_a_conflict_with_keys(page, tmp_path):
    data = seed(tmp_path, n_items=3, overlap=2)
    project = data["project"]
    ann1, ann2 = data["annotators"]
    for _ in range(3):
        _answer(project, ann1, 2, True)
        _answer(project, ann2, 5, False)
    login(page, data["reviewer"].username)
    page.goto(f"/projects/{project.pk}/review/")
    page.locator("#answers-table tbody tr").first.wait_for()
    assert "ann1" in page.locator("#answers-table").inner_text().lower()
    shot(page, "review")
    # The rating question is active: 4 sets it, 2 sets "No" on faithful; Enter records.
    page.keyboard.press("4")
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "() => document.getElementById('toast')?.textContent === 'Adjudication recorded.'"
    )
    adjudication = Adjudication.objects.get()
    assert adjudication.answers["quality"] == 4 and adjudication.answers["faithful"] is False
    assert adjudication.reviewer == data["reviewer"]
