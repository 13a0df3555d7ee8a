"""The product's main job in the browser, on the demo as `make run` sets it up, as its admin.

`manage.py demo_setup --items 60` builds the demo: its users, the demo corpus (the same builder
and defects as the full demo, at reduced size: 60 items instead of 800, to fit CI time), its
three projects with the simulated project's five answers per item, and the corpus's
featurisation queued for the background, which the real worker runs. Then the admin logs in
through the login page and, once the features are cached (as the demo intends), with a real
Celery worker: trains the simulated project's reward model (30 epochs, chosen on the page; the
recipe's default is 60), promotes it, scores the demo corpus, curates with the
policy form (preview with the random baseline, commit), exports Parquet with the images inside
and downloads it (read back with pyarrow, its images with Pillow), then LLaVA JSON with the
images.tar option (its data file and its images archive downloaded through the page's links).

The test holds no API client: every request comes from the browser. Each /api/ request the
browser makes is recorded and must be one that the visited pages' scripts (or their links)
make; no request leaves the server's origin. Each step leaves a screenshot at 1280x800 in
docs/screenshots/walkthrough-*.png (docs/tour.md shows them in order).
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow.parquet as pq
import pytest
from django.core.management import call_command
from PIL import Image

from annotation.models import Project
from core.models import Job
from curation.models import DatasetItem, DatasetVersion, Export, ItemScore, RewardModelRun
from demo.projects import SIMULATED_PROJECT
from demo.setup import DEMO_USERS
from tests.browser.conftest import login, shot
from tests.conftest import wait_for_job

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG = 600_000  # ms: a cold worker loads the default encoders once; a loaded machine is slow
DEMO_ITEMS = 60

# The /api/ requests the pages of this walk make, each with the script (or link) that makes it.
PAGE_REQUESTS = [
    ("GET", r"projects/", "home.js"),
    ("GET", r"projects/\d+/(progress|agreement)/", "dashboard.js"),
    ("POST", r"projects/\d+/reward-models/", "runs.js: train"),
    ("GET", r"reward-models/\d+/", "runs.js: follow the running job"),
    ("POST", r"reward-models/\d+/promote/", "runs.js: promote"),
    ("GET", r"reward-models/\d+/scorings/", "scoring.js: follow"),
    ("POST", r"reward-models/\d+/scorings/", "scoring.js: score"),
    ("POST", r"projects/\d+/curations/", "curation.js: preview, commit"),
    ("POST", r"datasets/\d+/exports/", "curation.js: export"),
    ("GET", r"datasets/\d+/", "curation.js: follow the export"),
    ("GET", r"exports/\d+/download/", "curation page: the download link"),
]


def _page_made(method: str, path: str) -> bool:
    return any(
        method == m and re.fullmatch(f"/api/v1/{pattern}", path) for m, pattern, _ in PAGE_REQUESTS
    )


def _shot(page, name: str) -> None:
    """A screenshot once the header's health badge has its answer (workers, queues)."""
    page.wait_for_selector("#health:not([data-state='unknown'])")
    shot(page, name)


def test_admin_walks_the_demo(worker, page, settings, tmp_path, live_server) -> None:
    # given: the demo as `make run` sets it up (at reduced size), its featurisation queued
    settings.VAR_DIR = tmp_path
    call_command("demo_setup", items=DEMO_ITEMS, stdout=io.StringIO())
    project = Project.objects.get(name=SIMULATED_PROJECT)
    corpus = project.corpora.get()
    assert Job.objects.filter(kind=Job.Kind.CORPUS_FEATURIZE).count() == 1
    admin = DEMO_USERS[0]

    requests: list[tuple[str, str, str]] = []
    page.context.on(
        "request",
        lambda r: requests.append((r.method, r.url, r.resource_type)),
    )

    # 0. log in as the demo's admin; home -> the simulated project's dashboard -> reward models
    login(page, admin.username, admin.password)
    card = page.locator(f"article[data-project='{project.pk}']")
    card.get_by_role("link", name="Dashboard").click()
    page.get_by_role("link", name="Reward-model runs").click()
    page.wait_for_url(f"**/projects/{project.pk}/reward-models/")

    # The demo's features are computed in the background after start-up; a user who trains
    # right away shares the worker with that job (both encode), so the walk starts once it is
    # done, as the demo intends (read from the database: the test makes no API call).
    featurize = wait_for_job(
        Job.objects.get(kind=Job.Kind.CORPUS_FEATURIZE).pk, timeout=LONG / 1000
    )
    assert featurize.status == Job.Status.SUCCEEDED, featurize.error

    # 1. train: the running row follows the job, then the path's next steps appear
    page.get_by_label("Epochs").fill("30")
    page.get_by_role("button", name="Train a new model").click()
    # the run's row appears, live, or already finished: with warm features on an idle machine
    # 30 epochs of 60 items can end before the page's first poll
    page.wait_for_selector("[id^='run-status-']", timeout=30_000)
    followed = page.locator("[data-live-run]").count() > 0  # a live row is polled to its end
    # the job's own message (featurising n/N, step s of at most T), unless it already ended
    page.wait_for_function(
        "() => { const c = document.querySelector('[data-live-run]');"
        " return !c || /Featuris|Step/.test(c.textContent); }",
        timeout=LONG,
    )
    _shot(page, "walkthrough-1-training")
    page.wait_for_selector("#path-panel", timeout=LONG)
    run = RewardModelRun.objects.get(project=project)
    assert run.job.status == Job.Status.SUCCEEDED
    status = page.locator(f"#run-status-{run.pk}")
    assert re.match(r"succeeded: \d+ steps", status.inner_text()), status.inner_text()
    assert "eval_accuracy" in run.metrics
    _shot(page, "walkthrough-2-trained")

    # 2. promote
    page.locator("#path-promote").click()
    page.wait_for_selector("#path-promote-step:has-text('Promoted')")
    assert page.locator("td:has-text('active')").count() == 1
    _shot(page, "walkthrough-3-promoted")

    # 3. score the demo corpus (the project's, checked by default), live until scored
    row = f"#scoring-panel tr[data-corpus='{corpus.pk}']"
    assert page.locator(f"{row} [data-score-pick]").is_checked()
    page.locator("#score-selected").click()
    page.wait_for_selector(f"{row}[data-state='scored']", timeout=LONG)
    state = page.locator(f"{row} [data-scoring-state]").inner_text()
    assert state == f"scored ({DEMO_ITEMS} items)", state
    assert ItemScore.objects.filter(run=run, item__corpus=corpus).count() == DEMO_ITEMS
    _shot(page, "walkthrough-4-scored")

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
    rows_of = page.locator("#preview-rows tr").all()
    counts = {r.locator("th").text_content(): r.locator("td").first.text_content() for r in rows_of}
    assert counts == {
        "Selected": str(DEMO_ITEMS // 2),
        "Random baseline": str(DEMO_ITEMS // 2),
        "All scored": str(DEMO_ITEMS),
    }
    assert page.locator("#samples li img").count() > 0, "samples are shown with their images"
    page.locator("#preview").evaluate("node => node.scrollIntoView()")
    _shot(page, "walkthrough-5-preview")
    page.get_by_label("Dataset name").fill("top half")
    page.get_by_role("button", name="Commit as dataset version").click()
    page.wait_for_selector("[data-export-control]", timeout=60_000)
    dataset = DatasetVersion.objects.get(project=project)
    assert dataset.n_items == DEMO_ITEMS // 2
    dataset_row = page.locator(f"#dataset-{dataset.pk}")
    assert "top half" in dataset_row.inner_text()
    assert re.search(r"\d\.\d+ vs \d\.\d+", dataset_row.inner_text()), "baseline vs selected"
    dataset_row.evaluate("node => node.scrollIntoView({block: 'center'})")
    _shot(page, "walkthrough-6-committed")

    # 5. export Parquet with the images inside, follow the job to its download link
    control = page.locator(f"[data-export-control='{dataset.pk}']")
    control.locator("[data-export-format]").select_option("parquet_images")
    control.locator(f"[data-export='{dataset.pk}']").click()
    link = f"[data-exports='{dataset.pk}'] [data-download]"
    page.wait_for_selector(link, timeout=LONG)
    dataset_row.evaluate("node => node.scrollIntoView({block: 'center'})")
    _shot(page, "walkthrough-7-exported")
    export = Export.objects.get(dataset=dataset)
    assert export.format == "parquet_images" and export.job.status == Job.Status.SUCCEEDED
    assert "parquet_images: download" in dataset_row.inner_text()

    # 6. download: a Parquet shard with every selected item and its image
    with page.expect_download() as download:
        page.locator(link).first.click()
    saved = Path(download.value.path())
    table = pq.read_table(saved)
    rows = table.to_pylist()
    members = DatasetItem.objects.filter(dataset=dataset)
    selected = members.values_list("item__external_id", flat=True)
    assert sorted(r["id"] for r in rows) == sorted(selected)
    assert all(r["conversations"] for r in rows)
    with_images = [r for r in rows if r["image"]]
    assert with_images, "the demo's items carry images"
    for r in with_images:
        Image.open(io.BytesIO(r["image"]["bytes"])).verify()

    # 7. the LLaVA export with the images.tar option: the data file is LLaVA's JSON and the
    # archive beside it holds every image it names
    control.locator("[data-export-format]").select_option("llava_json")
    control.locator("[data-export-images]").check()
    control.locator(f"[data-export='{dataset.pk}']").click()
    llava_link = f"[data-exports='{dataset.pk}'] li:has-text('llava_json + images') [data-download]"
    page.wait_for_selector(llava_link, timeout=LONG)
    with page.expect_download() as download:
        page.locator(llava_link).click()
    records = json.loads(Path(download.value.path()).read_text())
    assert sorted(r["id"] for r in records) == sorted(selected)
    assert all(t["from"] in ("human", "gpt") for r in records for t in r["conversations"])
    llava = Export.objects.get(dataset=dataset, format="llava_json")
    assert llava.include_images and "images.tar" in llava.manifest["files"]
    images_link = (
        f"[data-exports='{dataset.pk}'] li:has-text('llava_json + images') [data-download-images]"
    )
    with page.expect_download() as download:
        page.locator(images_link).click()
    with tarfile.open(download.value.path()) as archive:
        assert {r["image"] for r in records if r.get("image")} <= set(archive.getnames())

    # every request stayed on the server, and every API request is one the pages make
    origin = urlsplit(live_server.url).netloc
    assert all(urlsplit(url).netloc == origin for _, url, _ in requests), requests
    api = [(m, urlsplit(url).path, kind) for m, url, kind in requests if "/api/" in url]
    strangers = [r for r in api if not _page_made(r[0], r[1])]
    assert not strangers, f"API requests no page of the walk makes: {strangers}"
    assert {kind for _, path, kind in api if not path.endswith("/download/")} == {"fetch"}
    made = {(m, p) for m, p, _ in api}
    for method, pattern, script in PAGE_REQUESTS[2:]:
        if script == "runs.js: follow the running job" and not followed:
            continue  # the run had ended before the page first showed it: nothing to follow
        assert any(m == method and re.fullmatch(f"/api/v1/{pattern}", p) for m, p in made), (
            f"no {method} {pattern} ({script}): the step did not go through its page"
        )
