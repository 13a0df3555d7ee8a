"""The product's main job in the browser, as an admin, with a real worker: train a reward
model, promote it, score the project's corpus, curate with the policy form, export with images
and download it. Every request is the pages' own; each step leaves a screenshot in
docs/screenshots/walkthrough-*.png. Training is kept small (3 epochs) to fit CI time."""

from __future__ import annotations

from pathlib import Path

import pytest

from curation.models import DatasetVersion, Export
from tests.browser.conftest import login, shot
from tests.browser.data import seed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG = 300_000  # ms: a cold worker loads the default encoders once


def test_admin_walks_the_whole_path(page, worker, tmp_path) -> None:
    data = seed(tmp_path, n_items=30)
    project, corpus = data["project"], data["corpus"]
    login(page, data["owner"].username)

    # 1. train: the running row follows the job, then the path's next steps appear
    page.goto(f"/projects/{project.pk}/reward-models/")
    page.get_by_label("Epochs").fill("3")
    page.get_by_role("button", name="Train a new model").click()
    page.wait_for_selector("[data-live-run]", timeout=30_000)
    shot(page, "walkthrough-1-training")
    page.wait_for_selector("#path-panel", timeout=LONG)
    shot(page, "walkthrough-2-trained")

    # 2. promote
    page.locator("#path-promote").click()
    page.wait_for_selector("#path-promote-step:has-text('Promoted')")

    # 3. score the project's corpus (checked by default), live until scored
    row = f"#scoring-panel tr[data-corpus='{corpus.pk}']"
    assert page.locator(f"{row} [data-score-pick]").is_checked()
    page.locator("#score-selected").click()
    page.wait_for_selector(f"{row}[data-state='scored']", timeout=LONG)
    shot(page, "walkthrough-3-scored")

    # 4. curate with the form: top half by the overall score, previewed then committed
    page.locator("#path-curate").click()
    page.wait_for_selector(f"#scored-corpora tr[data-corpus='{corpus.pk}'][data-state='scored']")
    page.get_by_role("button", name="Remove step 1").click()
    page.locator("#policy-add").select_option("top_fraction")
    page.get_by_role("button", name="Add step").click()
    step = page.locator(".policy-step").first
    step.get_by_label("score *").fill("overall")
    step.get_by_label("fraction *").fill("0.5")
    page.get_by_role("button", name="Preview").click()
    page.locator("#samples li").first.wait_for(timeout=60_000)
    shot(page, "walkthrough-4-preview")
    page.get_by_label("Dataset name").fill("top half")
    page.get_by_role("button", name="Commit as dataset version").click()
    page.wait_for_selector("[data-export-control]", timeout=60_000)
    dataset = DatasetVersion.objects.get(project=project)
    assert dataset.n_items > 0

    # 5. export LLaVA JSON with images, follow the job to its download link, download
    control = page.locator(f"[data-export-control='{dataset.pk}']")
    control.locator("[data-export-format]").select_option("llava_json")
    control.locator("[data-export-images]").check()
    control.locator(f"[data-export='{dataset.pk}']").click()
    page.wait_for_selector(f"[data-exports='{dataset.pk}'] [data-download]", timeout=LONG)
    shot(page, "walkthrough-5-exported")
    export = Export.objects.get(dataset=dataset)
    assert export.include_images
    with page.expect_download() as download:
        page.locator(f"[data-exports='{dataset.pk}'] [data-download]").first.click()
    saved = Path(download.value.path())
    assert saved.stat().st_size > 0
