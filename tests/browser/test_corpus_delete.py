"""An admin deletes a corpus from the corpora page: a confirm dialog, then the job's progress
until it has gone (a real worker), the other corpus untouched."""

from __future__ import annotations

import pytest

from corpora.models import Corpus, Item
from tests.browser.conftest import login, shot
from tests.corpora.deletion_world import deletion_world

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_admin_deletes_a_corpus_after_confirming(page, worker):
    from tests.factories import StaffFactory

    world = deletion_world(n_items=40)
    StaffFactory(username="admin")
    errors: list[str] = []

    def on_console(msg) -> None:
        # The header's health probe may report a worker between heartbeats (503): not this page.
        if msg.type == "error" and "/healthz" not in (msg.location or {}).get("url", ""):
            errors.append(msg.text)

    page.on("console", on_console)
    login(page, "admin")
    page.goto("/corpora/")
    row = page.locator(f'[data-corpus-row="{world.doomed.pk}"]')
    # "Keep it" closes the dialog and deletes nothing
    row.get_by_role("button", name="Delete").click()
    dialog = page.locator("#delete-dialog")
    assert "doomed" in dialog.inner_text() and "40" in dialog.inner_text()
    shot(page, "corpus-delete-confirm")
    dialog.get_by_role("button", name="Keep it").click()
    assert not dialog.is_visible() and not Corpus.objects.get(pk=world.doomed.pk).deleting
    # confirming deletes it in the background, with the job's progress on the page
    row.get_by_role("button", name="Delete").click()
    dialog.get_by_role("button", name="Delete").click()
    page.locator("#job-status", has_text="succeeded").wait_for(timeout=90_000)
    assert "Deletion finished" in page.locator("#job-result").inner_text()
    assert "items: 40" in page.locator("#job-result").inner_text()
    assert row.count() == 0
    assert not Corpus.objects.filter(pk=world.doomed.pk).exists()
    assert Item.objects.filter(corpus=world.kept).count() == 40
    assert not errors
