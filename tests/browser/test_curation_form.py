"""The curation policy form: built from the server's schema, kept in sync with the JSON both
ways, previews with sample images, and a failed preview clears the stale one."""

from __future__ import annotations

import json
import random

import pytest

from core.models import Job
from curation.models import ItemScore, RewardModelRun
from tests.browser.conftest import SCREENSHOTS, login
from tests.browser.data import seed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _scored_run(project) -> RewardModelRun:
    job = Job.objects.create(kind=Job.Kind.REWARD_MODEL_TRAIN, status=Job.Status.SUCCEEDED)
    run = RewardModelRun.objects.create(
        project=project,
        job=job,
        hyperparameters={},
        text_encoder="x",
        in_progress=False,
        artifact_path="unused",
        metrics={"eval_accuracy": 0.71},
    )
    rng = random.Random(0)
    items = [pi.item for pi in project.project_items.select_related("item")]
    ItemScore.objects.bulk_create(
        ItemScore(run=run, item=item, overall=rng.random()) for item in items
    )
    return run


def _policy(page) -> list:
    return json.loads(page.locator("#policy-json").input_value())


def test_policy_form_and_json_stay_in_sync_and_preview_shows_images(page, tmp_path) -> None:
    # given: a project whose items a finished model has scored
    data = seed(tmp_path, n_items=12)
    _scored_run(data["project"])
    login(page, data["owner"].username)
    page.goto(f"/projects/{data['project'].pk}/curation/")

    # then: the default policy is the Align²LLaVA preset, in the form and in the JSON
    assert _policy(page) == [{"preset": "align2llava"}]
    assert page.get_by_label("Preset").input_value() == "align2llava"

    # when: steps are added in the form, the JSON follows
    page.locator("#policy-add").select_option("exclude_flags")
    page.get_by_role("button", name="Add step").click()
    page.locator("#policy-add").select_option("top_fraction")
    page.get_by_role("button", name="Add step").click()
    step = page.locator(".policy-step").nth(2)
    step.get_by_label("score *").fill("overall")
    step.get_by_label("fraction *").fill("0.5")
    step.get_by_label("per_category").check()
    assert _policy(page) == [
        {"preset": "align2llava"},
        {"op": "exclude_flags"},
        {"op": "top_fraction", "score": "overall", "fraction": 0.5, "per_category": True},
    ]
    page.get_by_role("button", name="Remove step 1").click()
    assert [s.get("op") for s in _policy(page)] == ["exclude_flags", "top_fraction"]

    # when: the JSON is edited, the form follows; broken JSON is flagged and the form kept
    quotas = [{"op": "quota", "score": "overall", "quotas": {"": 3}, "default": 1}]
    page.locator("#policy-json").fill(json.dumps(quotas))
    assert page.locator(".policy-step").count() == 1
    assert page.get_by_label("Items to keep").input_value() == "3"
    page.locator("#policy-json").fill("[{")
    assert "Not valid JSON" in page.locator("#policy-json-error").inner_text()
    assert page.locator(".policy-step").count() == 1
    page.get_by_role("button", name="Preview").click()
    assert "Fix the policy JSON" in page.locator("#curation-status").inner_text()

    # when: a valid policy is previewed, counts and sample items with their images show
    policy = [
        {"op": "exclude_flags", "flags": ["unsafe"]},
        {"op": "threshold", "score": "overall", "min": 0.05},
        {"op": "top_fraction", "score": "overall", "fraction": 0.5},
    ]
    page.locator("#policy-json").fill(json.dumps(policy))
    # A form edit after a JSON edit writes the JSON back, formatted.
    third = page.locator(".policy-step").nth(2)
    third.get_by_label("per_category").check()
    third.get_by_label("per_category").uncheck()
    assert _policy(page) == policy and "\n" in page.locator("#policy-json").input_value()
    page.get_by_role("button", name="Preview").click()
    page.locator("#samples li img").first.wait_for()
    page.wait_for_function("() => document.querySelector('#samples li img').naturalWidth > 0")
    selected = int(page.locator("#preview-rows tr").first.locator("td").first.inner_text())
    assert 1 <= selected <= 6 and page.locator("#samples li").count() == min(selected, 8)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "curation-policy-form.png"), full_page=True)

    # when: a preview fails, the stale preview is cleared and the server's reason shown
    page.locator("#policy-json").fill(json.dumps([{"op": "top_k", "score": "nope", "k": 2}]))
    page.get_by_role("button", name="Preview").click()
    page.wait_for_function(
        "() => document.getElementById('curation-status').textContent.includes('nope')"
    )
    assert page.locator("#preview").is_hidden()
    assert page.locator("#samples li").count() == 0
