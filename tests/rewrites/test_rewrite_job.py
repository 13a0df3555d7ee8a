"""Rewriting a dataset version end to end: API, job (in-process), new version, human
decisions, exports. The LLM is a tiny random model: the mechanics, not the quality."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.test import Client

from annotation.services.projects import project_create
from core.models import Job
from curation.models import DatasetItem, DatasetVersion, Export
from rewrites.models import RewriteRun, RewriteTurn
from tests.factories import CorpusFactory, ItemFactory, StaffFactory
from tests.tiny_models import tiny_causal_lm

pytestmark = pytest.mark.django_db

GUARDS = ("colours", "numbers", "objects", "spatial", "negation", "length", "similarity")
NO_GUARDS = dict.fromkeys(GUARDS, False)


@pytest.fixture(scope="module")
def tiny_lm_dir(tmp_path_factory) -> Path:
    return tiny_causal_lm(tmp_path_factory.mktemp("tiny-causal-lm"))


@pytest.fixture
def eager(settings, tiny_lm_dir):
    from webapp.celery import app

    settings.ARBITER_REWRITE_LLM = str(tiny_lm_dir)
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture
def dataset(staff) -> DatasetVersion:
    corpus = CorpusFactory()
    items = [
        ItemFactory(
            corpus=corpus,
            has_candidates=False,
            conversations=[
                {"from": "human", "value": "<image>\nWhat is on the mat?"},
                {"from": "gpt", "value": f"A red cat number {n} sat on the mat."},
            ],
        )  # fmt: skip
        for n in range(3)
    ]
    project = project_create(name="rw", corpora=[corpus], created_by=staff)
    version = DatasetVersion.objects.create(project=project, number=1, policy=[], n_items=3)
    DatasetItem.objects.bulk_create(DatasetItem(dataset=version, item=i, score=0.5) for i in items)
    return version


@pytest.fixture
def staff():
    return StaffFactory()


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _start(client, dataset, capture, **body) -> dict:
    with capture(execute=True):
        response = client.post(f"/api/v1/datasets/{dataset.pk}/rewrites/", body,
                               content_type="application/json")  # fmt: skip
    assert response.status_code == 202, response.json()
    return response.json()


def test_a_rewrite_makes_a_new_version_with_lineage_and_every_turn_recorded(
    staff, dataset, eager, django_capture_on_commit_callbacks
):
    client = _client(staff)
    body = {"settings": {"max_new_tokens": 4, "review": False}, "guards": NO_GUARDS,
            "shard_size": 2}  # fmt: skip
    started = _start(client, dataset, django_capture_on_commit_callbacks, **body)
    run = RewriteRun.objects.get(pk=started["id"])
    assert run.job.status == Job.Status.SUCCEEDED, run.job.error
    assert (run.n_shards, run.shards_done) == (2, 2)

    detail = client.get(f"/api/v1/datasets/{dataset.pk}/rewrites/{run.pk}/").json()
    assert detail["result"] is not None and detail["prompt_version"] == "v1"
    assert detail["figures"]["turns"] == 3
    result = DatasetVersion.objects.get(pk=detail["result"])
    assert result.derived_from_id == dataset.pk and result.number == 2
    assert result.provenance["rewrite"]["prompt_version"] == "v1"
    assert result.provenance["rewrite"]["guards"]["colours"] is False

    page = client.get(f"/api/v1/datasets/{dataset.pk}/rewrites/{run.pk}/turns/?page_size=2").json()
    assert len(page["results"]) == 2 and page["next"]
    turn = page["results"][0]
    assert {"original", "rewrite", "review", "nll_original", "nll_rewrite", "guards"} <= set(turn)
    member = DatasetItem.objects.get(dataset=result, item_id=turn["item"])
    assert member.conversations[1]["value"] == turn["final_text"]
    assert member.conversations[0]["value"] == "<image>\nWhat is on the mat?"

    # a person rejects it: the new version holds the original again, and the rate counts it
    decided = client.post(
        f"/api/v1/datasets/{dataset.pk}/rewrites/{run.pk}/turns/{turn['id']}/decision/",
        {"decision": "edit", "text": "An edited answer."}, content_type="application/json",
    )  # fmt: skip
    assert decided.status_code == 200, decided.json()
    member.refresh_from_db()
    assert member.conversations[1]["value"] == "An edited answer."
    client.post(
        f"/api/v1/datasets/{dataset.pk}/rewrites/{run.pk}/turns/{turn['id']}/decision/",
        {"decision": "reject"}, content_type="application/json",
    )  # fmt: skip
    member.refresh_from_db()
    assert member.conversations[1]["value"] == turn["original"]
    from rewrites.selectors import rewrite_figures

    figures = rewrite_figures(run=run)
    assert figures["human_decided"] == 1 and figures["human_acceptance_rate"] == 0.0

    # exports of the new version carry its own turns and say what made them
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/v1/datasets/{result.pk}/exports/", {"format": "jsonl"},
                               content_type="application/json")  # fmt: skip
    assert response.status_code == 202, response.json()
    export = Export.objects.get(pk=response.json()["id"])
    assert export.job.status == Job.Status.SUCCEEDED, export.job.error
    assert export.manifest["provenance"]["rewrite"]["llm"]
    assert export.manifest["lineage"]["derived_from"] == dataset.pk
    from django.conf import settings

    lines = (Path(settings.ARTIFACTS_ROOT) / export.path / "data.jsonl").read_text().splitlines()
    texts = {json.loads(line)["conversations"][1]["value"] for line in lines}
    assert turn["original"] in texts
    rewritten = RewriteTurn.objects.filter(run=run, kept="rewrite").exclude(pk=turn["id"])
    assert {t.rewrite for t in rewritten} <= texts


def test_a_requeued_rewrite_goes_on_from_the_last_finished_shard(
    staff, dataset, settings, tiny_lm_dir
):
    from rewrites.services import rewrite_execute, rewrite_start

    settings.ARBITER_REWRITE_LLM = str(tiny_lm_dir)
    run = rewrite_start(
        dataset=dataset,
        user=staff,
        settings={"max_new_tokens": 2, "review": False},
        guards=NO_GUARDS,
        shard_size=1,
    )
    first = DatasetItem.objects.filter(dataset=dataset).order_by("item_id").first()
    RewriteTurn.objects.create(run=run, item_id=first.item_id, turn=0, field="answer",
                               original="kept from before", rewrite="x", kept="rewrite",
                               reason="accepted")  # fmt: skip
    run.shards_done = 1
    run.save()
    rewrite_execute(run=run)
    turns = RewriteTurn.objects.filter(run=run)
    assert turns.count() == 3
    assert turns.get(item_id=first.item_id).original == "kept from before"  # not redone


def test_bad_settings_are_refused_and_leave_nothing(staff, dataset):
    client = _client(staff)
    for body in ({"settings": {"temperature": 9}}, {"guards": {"nope": True}},
                 {"settings": {"custom_prompt": "no placeholder"}}):  # fmt: skip
        response = client.post(f"/api/v1/datasets/{dataset.pk}/rewrites/", body,
                               content_type="application/json")  # fmt: skip
        assert response.status_code == 400, response.json()
        assert response.json()["error"]["code"] == "invalid_settings"
    assert not RewriteRun.objects.exists() and not Job.objects.exists()


def test_a_cancelled_rewrite_stops_and_makes_no_version(staff, dataset, settings, tiny_lm_dir):
    from core.services.jobs import job_run
    from rewrites.services import rewrite_execute, rewrite_start

    settings.ARBITER_REWRITE_LLM = str(tiny_lm_dir)
    run = rewrite_start(
        dataset=dataset,
        user=staff,
        settings={"max_new_tokens": 2, "review": False},
        guards=NO_GUARDS,
        shard_size=1,
    )
    from django.core.cache import cache

    from core.services.jobs import _cancel_key

    # what job_cancel sets for a running job (inside the test's transaction the cache is read)
    cache.set(_cancel_key(run.job_id), True)
    job = job_run(run.job_id, lambda job: rewrite_execute(run=run))
    run.refresh_from_db()
    assert job.status == Job.Status.CANCELLED
    assert run.result_id is None and run.shards_done == 0
    assert DatasetVersion.objects.count() == 1


def test_an_edit_needs_text_and_a_turn_of_another_rewrite_is_404(staff, dataset):
    from tests.access_world import build_world

    world = build_world()
    client = _client(staff)
    url = (
        f"/api/v1/datasets/{world.dataset.pk}/rewrites/{world.rewrite.pk}/turns/"
        f"{world.rewrite_turn.pk}/decision/"
    )
    response = client.post(url, {"decision": "edit", "text": " "}, content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_decision"
    world.rewrite_turn.refresh_from_db()
    assert world.rewrite_turn.decision == ""
    elsewhere = url.replace(f"/datasets/{world.dataset.pk}/", f"/datasets/{dataset.pk}/")
    assert client.post(elsewhere, {"decision": "accept"},
                       content_type="application/json").status_code == 404  # fmt: skip


# --- a failed or cancelled run leaves nothing half made ----------------------------------------


def _run(staff, dataset, settings, tiny_lm_dir) -> RewriteRun:
    from rewrites.services import rewrite_start

    settings.ARBITER_REWRITE_LLM = str(tiny_lm_dir)
    return rewrite_start(dataset=dataset, user=staff, guards=NO_GUARDS, shard_size=1,
                         settings={"max_new_tokens": 2, "review": False})  # fmt: skip


def _execute(run: RewriteRun) -> Job:
    from core.services.jobs import job_run
    from rewrites.services import rewrite_execute

    return job_run(run.job_id, lambda job: rewrite_execute(run=run))


@pytest.mark.parametrize("cancel_after_shard", [1, 3])
def test_a_rewrite_cancelled_mid_run_removes_its_turns_and_keeps_its_record(
    staff, dataset, settings, tiny_lm_dir, monkeypatch, cancel_after_shard
):
    import rewrites.services as services
    from core.services.jobs import job_cancel

    run = _run(staff, dataset, settings, tiny_lm_dir)
    written: list[int] = []
    real_progress = services.job_progress

    def progress(**kwargs) -> None:
        real_progress(**kwargs)
        if kwargs["message"].startswith("Rewrote shard"):
            written.append(RewriteTurn.objects.filter(run=run).count())
            if len(written) == cancel_after_shard:
                # the owner presses cancel while the job runs (the real service)
                job_cancel(job=Job.objects.get(pk=run.job_id))

    monkeypatch.setattr(services, "job_progress", progress)
    job = _execute(run)

    assert job.status == Job.Status.CANCELLED
    assert written == list(range(1, cancel_after_shard + 1))  # shards were written, then...
    run.refresh_from_db()
    assert not RewriteTurn.objects.filter(run=run).exists()  # ...removed
    assert run.result_id is None and run.shards_done == 0
    assert DatasetVersion.objects.count() == 1  # the source only, even after the last shard
    assert run.figures["discarded"] == {
        "turns": cancel_after_shard, "shards": cancel_after_shard, "dataset_version": None,
    }  # fmt: skip
    detail = _client(staff).get(f"/api/v1/datasets/{dataset.pk}/rewrites/{run.pk}/").json()
    assert detail["job"]["status"] == "cancelled" and detail["result"] is None
    assert detail["figures"]["turns"] == 0
    assert detail["figures"]["discarded"]["turns"] == cancel_after_shard


def test_a_rewrite_that_fails_mid_run_removes_its_turns_and_keeps_its_error(
    staff, dataset, settings, tiny_lm_dir, monkeypatch
):
    from rewriting import pipeline

    run = _run(staff, dataset, settings, tiny_lm_dir)
    calls: list[int] = []
    real_rewrite_units = pipeline.rewrite_units

    def second_shard_breaks(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("out of memory in shard 2")
        return real_rewrite_units(*args, **kwargs)

    # the service imports the library lazily: the fault goes where it looks the function up
    monkeypatch.setattr(pipeline, "rewrite_units", second_shard_breaks)
    job = _execute(run)

    assert job.status == Job.Status.FAILED and job.error["code"] == "job_failed"
    run.refresh_from_db()
    assert RewriteRun.objects.filter(pk=run.pk).exists()
    assert not RewriteTurn.objects.filter(run=run).exists()
    assert run.result_id is None and run.shards_done == 0
    assert run.figures["discarded"]["turns"] == 1
    assert DatasetVersion.objects.count() == 1


def test_a_failed_run_with_its_version_made_loses_the_version(
    staff, dataset, settings, tiny_lm_dir
):
    from rewrites.services import rewrite_discard, rewrite_execute

    run = _run(staff, dataset, settings, tiny_lm_dir)
    rewrite_execute(run=run)
    run.refresh_from_db()
    made = run.result_id
    assert made is not None
    # e.g. the reaper gave up on the worker after the version was made, before it reported
    Job.objects.filter(pk=run.job_id).update(status=Job.Status.FAILED)
    assert rewrite_discard(run=run)["dataset_version"] == made
    assert not DatasetVersion.objects.filter(pk=made).exists()
    assert not DatasetItem.objects.filter(dataset_id=made).exists()


def test_a_run_still_going_or_requeued_after_a_crash_keeps_its_shards(
    staff, dataset, settings, tiny_lm_dir
):
    from rewrites.services import rewrite_discard

    run = _run(staff, dataset, settings, tiny_lm_dir)
    first = DatasetItem.objects.filter(dataset=dataset).order_by("item_id").first()
    RewriteTurn.objects.create(
        run=run, item_id=first.item_id, turn=0, field="answer", original="o", rewrite="r",
        kept="rewrite", reason="accepted",
    )  # fmt: skip
    run.shards_done = 1
    run.save()
    for status in (Job.Status.QUEUED, Job.Status.RUNNING):  # the reaper requeues: QUEUED
        Job.objects.filter(pk=run.job_id).update(status=status)
        assert rewrite_discard(run=run) == {}
    assert RewriteTurn.objects.filter(run=run).count() == 1
    run.refresh_from_db()
    assert run.shards_done == 1


def test_a_worker_given_up_on_cannot_write_a_shard_after_the_clean_up(
    staff, dataset, settings, tiny_lm_dir
):
    from core.services.jobs import JobCancelled
    from rewrites.services import rewrite_execute

    run = _run(staff, dataset, settings, tiny_lm_dir)
    # the job was ended (and cleaned up) while a presumed-dead worker was still rewriting
    Job.objects.filter(pk=run.job_id).update(status=Job.Status.FAILED)
    with pytest.raises(JobCancelled):
        rewrite_execute(run=run)
    assert not RewriteTurn.objects.filter(run=run).exists()
    assert DatasetVersion.objects.count() == 1


def test_the_start_control_offers_every_prompt_version_and_sentence_by_sentence(staff, dataset):
    body = _client(staff).get(f"/projects/{dataset.project_id}/curation/").content.decode()
    control = body[body.index(f'data-rewrite-control="{dataset.pk}"') :]
    assert '<option value="v1" selected>v1 (rules)</option>' in control
    assert '<option value="v2">v2 (worked examples)</option>' in control
    assert "data-rewrite-sentences" in control
