"""The dashboard says plainly that items imported into the corpus later are not in the project,
and adds them when the owner clicks."""

from __future__ import annotations

import pytest

from annotation.models import ProjectItem
from tests.browser.conftest import login, shot
from tests.browser.data import seed
from tests.factories import ItemFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_owner_adds_the_items_imported_later(page, tmp_path):
    data = seed(tmp_path, n_items=4)
    project = data["project"]
    corpus = project.corpora.get()
    before = ProjectItem.objects.filter(project=project).count()
    ItemFactory.create_batch(3, corpus=corpus, category="")
    login(page, data["owner"].username)
    page.goto(f"/projects/{project.pk}/")
    banner = page.locator("#missing-items")
    assert "3 items of this project's corpora are not in this project." in banner.inner_text()
    shot(page, "dashboard-items-added-later")
    page.get_by_role("button", name="Add 3 items to this project").click()
    banner.wait_for(state="hidden")
    page.locator("#toast.show").wait_for()
    assert "3 items added" in page.locator("#toast").inner_text()
    assert ProjectItem.objects.filter(project=project).count() == before + 3
