"""The constitution editor's "Propose" control: the helper LLM's proposal is written by a job
the page polls (the page stays usable), shown for the person to accept into the rule's fields,
and saved only with the constitution. The packaged SmolLM2-135M writes it (in-process here:
this test starts no worker)."""

from __future__ import annotations

import pytest

from annotation.models import Constitution
from core.models import Job
from core.services.jobs import job_run
from curation.services.judge_proposals import judge_proposal_execute
from tests.browser.conftest import login, shot
from tests.browser.data import seed
from tests.conftest import wait_for_job

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def smollm2_dir(tmp_path_factory):
    from rewardmodel.gguf import gguf_to_safetensors, smollm2_gguf_path

    try:
        gguf = smollm2_gguf_path()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    return gguf_to_safetensors(gguf, tmp_path_factory.mktemp("smollm2"))


def test_propose_shows_the_proposal_and_accept_fills_the_fields(
    page, tmp_path, settings, smollm2_dir
):
    settings.ARBITER_JUDGE_HELPER_LLM = str(smollm2_dir)
    settings.ARBITER_JOB_HEARTBEAT_S = 3600.0
    data = seed(tmp_path, n_items=1)
    project = data["project"]
    versions = Constitution.objects.filter(project=project).count()
    login(page, data["owner"].username)
    page.goto(f"/projects/{project.pk}/edit/")
    page.locator("#re-0-text").wait_for()
    page.locator("#re-0-text").fill("Images must not show smoking.")
    page.locator("#re-0-objectified").fill("A person smoking is visible.")
    before = page.locator("#re-0-preconditions").input_value()

    page.get_by_role("button", name="Propose preconditions for rule 1").click()
    status = page.locator("[data-rule] .proposal-status").first
    status.wait_for()
    job = None
    for _ in range(50):
        job = Job.objects.filter(kind=Job.Kind.JUDGE_PROPOSAL).order_by("-pk").first()
        if job is not None:
            break
        page.wait_for_timeout(100)
    assert job is not None and job.params["text"] == "Images must not show smoking."
    # the page says how long it has waited and stays usable meanwhile
    page.wait_for_function(
        "() => /\\(\\d+ s\\)/.test(document.querySelector('.proposal-status')?.textContent)"
    )
    page.locator("#re-1-central_objects").fill("still editable")
    assert page.locator("#re-1-central_objects").input_value() == "still editable"

    # queued, unless the session's shared worker (with the same SmolLM2) already took it
    job.refresh_from_db()
    if job.status == Job.Status.QUEUED:
        job_run(job.pk, lambda job: judge_proposal_execute(job=job))
    done = wait_for_job(job.pk, timeout=600)
    assert done.status == Job.Status.SUCCEEDED, done.error
    proposal = done.result["proposal"]
    assert proposal is not None, done.result
    accept = page.get_by_role("button", name="Accept the proposal for rule 1")
    accept.wait_for(timeout=15_000)
    shown = page.locator(".proposal-preconditions").inner_text()
    shot(page, "judge-proposal")
    assert proposal["preconditions"][0][0] in shown
    # shown only: the fields and the stored constitution are unchanged until accepted
    assert page.locator("#re-0-preconditions").input_value() == before
    accept.click()
    filled = page.locator("#re-0-preconditions").input_value()
    assert filled.splitlines()[0].split(" | ")[0] == proposal["preconditions"][0][0]
    assert Constitution.objects.filter(project=project).count() == versions

    page.get_by_role("button", name="Save as new version").click()
    page.wait_for_function("() => document.querySelector('#const-msg').textContent !== ''")
    saved = Constitution.objects.filter(project=project).order_by("-version").first()
    rule = saved.rules.order_by("position").first()
    assert [p if isinstance(p, list) else [p] for p in rule.preconditions] == proposal[
        "preconditions"
    ]
