"""Scoring (sharded chord), curation preview/commit/diff and exports, in-process on SQLite."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from django.test import Client

from core.models import Job
from corpora.models import Item
from curation.models import DatasetVersion, Export, ItemScore, ScoringShard
from curation.services.reward_models import reward_model_run_start
from curation.services.scoring import scoring_shard_execute
from tests.curation.helpers import GOOD
from tests.stats import chance_bound

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def trained(project, staff, small_hyper, eager, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = reward_model_run_start(project=project, user=staff, hyperparameters=small_hyper)
    run.refresh_from_db()
    assert run.job.status == Job.Status.SUCCEEDED
    return run


def test_score_curate_export_end_to_end(
    project, staff, trained, django_capture_on_commit_callbacks, settings
):
    client = _client(staff)
    corpus = project.corpora.get()
    n_items = corpus.items.count()
    # when: scoring in shards of 50
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/api/v1/reward-models/{trained.pk}/scorings/",
            {"corpus_id": corpus.pk, "shard_size": 50},
            content_type="application/json",
        )
    assert response.status_code == 202, response.json()
    job = Job.objects.get(pk=response.json()["job"]["id"])
    # then: every item scored once, progress complete
    assert job.status == Job.Status.SUCCEEDED, job.message
    assert job.result["items_scored"] == n_items == job.progress_current
    assert response.json()["n_shards"] == -(-n_items // 50)
    assert ItemScore.objects.filter(run=trained).count() == n_items
    rich = ItemScore.objects.filter(run=trained, item__has_candidates=True).select_related("item")
    with_good = [s for s in rich if any(v in GOOD for v in s.item.conversations[1]["value"])]
    picked_good = [
        s.item.conversations[1]["value"][s.best_candidates["1"]] in GOOD for s in with_good
    ]
    # a random pick is good at the share of good candidates
    good_share = np.mean([np.mean([v in GOOD for v in s.item.conversations[1]["value"]])
                          for s in with_good])  # fmt: skip
    assert np.mean(picked_good) > max(0.9, chance_bound(len(picked_good), p=good_share))

    # a redelivered shard is a no-op; a shard run again after a crash upserts, no duplicates
    scoring = trained.scorings.get()
    assert scoring_shard_execute(scoring=scoring, index=0)["skipped"] is True
    ScoringShard.objects.filter(scoring=scoring, index=0).update(done=False)
    scoring_shard_execute(scoring=scoring, index=0)
    assert ItemScore.objects.filter(run=trained).count() == n_items

    # preview: nothing committed, counts + histogram + samples + random baseline
    url = f"/api/v1/projects/{project.pk}/curations/"
    policy = [
        {"op": "top_fraction", "score": "overall", "fraction": 0.2, "per_category": True},
        {"op": "dedup", "threshold": 0.999},
    ]
    preview = client.post(
        url, {"policy": policy, "model_run_id": trained.pk}, content_type="application/json"
    ).json()
    assert not DatasetVersion.objects.exists()
    assert preview["items_scored"] == n_items
    assert preview["random_baseline"]["count"] == preview["selected"]["count"] > 0
    assert sum(preview["histogram"]["all"]) == n_items
    assert sum(preview["histogram"]["selected"]) == preview["selected"]["count"]
    assert preview["samples"] and "question" in preview["samples"][0]
    # identical texts collapse under dedup
    assert preview["steps"][1]["after"] < preview["steps"][1]["before"]
    assert preview["selected"]["mean_score"] >= preview["random_baseline"]["mean_score"]

    # commit two versions and diff them
    created = client.post(
        url,
        {"policy": "top10", "model_run_id": trained.pk, "commit": True},
        content_type="application/json",
    )
    assert created.status_code == 201, created.json()
    first = created.json()
    second = client.post(
        url,
        {
            "policy": [{"op": "top_fraction", "score": "overall", "fraction": 0.3}],
            "model_run_id": trained.pk,
            "commit": True,
        },
        content_type="application/json",
    ).json()
    assert (first["number"], second["number"]) == (1, 2)
    assert first["corpus_versions"] == {str(corpus.pk): corpus.version}
    diff = client.get(f"/api/v1/datasets/{first['id']}/diff/{second['id']}/").json()
    assert diff["common"] == first["n_items"] and diff["only_in_other"] == (
        second["n_items"] - first["n_items"]
    )

    # export in every format and load each with `datasets`
    import datasets

    for fmt in ("llava_json", "jsonl", "parquet"):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                f"/api/v1/datasets/{second['id']}/exports/",
                {"format": fmt},
                content_type="application/json",
            )
        assert response.status_code == 202
        export = Export.objects.get(pk=response.json()["id"])
        assert export.job.status == Job.Status.SUCCEEDED, export.job.error
        download = client.get(f"/api/v1/exports/{export.pk}/download/")
        assert download.status_code == 200
        body = b"".join(download.streaming_content)
        manifest = export.manifest
        name = next(iter(manifest["files"]))
        import hashlib

        assert hashlib.sha256(body).hexdigest() == manifest["files"][name]["sha256"]
        assert manifest["records"] == second["n_items"]
        path = Path(settings.ARTIFACTS_ROOT) / export.path / name
        builder = "parquet" if fmt == "parquet" else "json"
        loaded = datasets.load_dataset(
            builder, data_files=str(path), split="train", cache_dir=str(path.parent / "hf")
        )
        assert len(loaded) == second["n_items"]
        for row in loaded:
            assert all(isinstance(turn["value"], str) for turn in row["conversations"])
        if fmt == "llava_json":
            records = json.loads(body)
            assert isinstance(records, list)
            assert set(records[0]) == {"id", "conversations"}  # text-only items: no image key
            rich_ids = set(
                Item.objects.filter(has_candidates=True).values_list("external_id", flat=True)
            )
            answers = [r["conversations"][1]["value"] for r in records if r["id"] in rich_ids]
            assert answers and sum(a in GOOD for a in answers) / len(answers) > 0.9


def test_bad_policy_is_400(project, staff, trained) -> None:
    response = _client(staff).post(
        f"/api/v1/projects/{project.pk}/curations/",
        {
            "policy": [{"op": "top_fraction", "score": "overall", "fraction": 2}],
            "model_run_id": trained.pk,
        },
        content_type="application/json",
    )
    assert response.status_code in (400, 409)
    assert response.json()["error"]["code"] in ("invalid_policy", "not_scored")


def test_images_bundle(tmp_path, settings) -> None:
    from curation.services.export import _write_images

    media = Path(settings.MEDIA_ROOT)
    (media / "ab").mkdir(parents=True)
    (media / "ab" / "x.png").write_bytes(b"png")
    info = _write_images(tmp_path / "images.tar", {"coco/x.png": "ab/x.png"})
    with tarfile.open(tmp_path / "images.tar") as tar:
        assert tar.getnames() == ["coco/x.png"]
    assert info["bytes"] > 0 and len(info["sha256"]) == 64


def test_a_model_of_the_retired_whole_item_recipe_still_scores(
    project, tiny_text_encoder, eager, django_capture_on_commit_callbacks, settings
) -> None:
    from core.services.jobs import job_create
    from curation.models import RewardModelRun
    from curation.services.features import encoder_get, encoder_id_of
    from curation.services.reward_models import run_dir
    from curation.services.scoring import scoring_start
    from rewardmodel.artifacts import WHOLE_ITEM_RECIPE, reward_model_save
    from rewardmodel.heads import HeadConfig, RewardHead

    # given: a finished run of the retired pair recipe, its model saved as that recipe did
    job = job_create(kind=Job.Kind.REWARD_MODEL_TRAIN, params={"project_id": project.pk})
    job.status = Job.Status.SUCCEEDED
    job.save(update_fields=["status"])
    run = RewardModelRun.objects.create(
        project=project,
        job=job,
        hyperparameters={"epochs": 8, "seed": 0},
        seed=0,
        text_encoder=tiny_text_encoder,
        image_encoder="",
    )
    head = RewardHead(HeadConfig(image_dim=0, text_dim=encoder_get(tiny_text_encoder).dim))
    path = reward_model_save(
        run_dir(run) / "model",
        head,
        text_encoder_id=encoder_id_of(tiny_text_encoder),
        image_encoder_id=None,
        fingerprint="old",
        recipe=dict(WHOLE_ITEM_RECIPE),
    )
    run.artifact_path = str(path.relative_to(settings.ARTIFACTS_ROOT))
    run.save()
    corpus = project.corpora.get()
    # when
    with django_capture_on_commit_callbacks(execute=True):
        scoring = scoring_start(run=run, corpus=corpus, shard_size=50)
    # then: every item scored by its whole text, candidates picked
    assert Job.objects.get(pk=scoring.job_id).status == Job.Status.SUCCEEDED
    assert ItemScore.objects.filter(run=run).count() == corpus.items.count()
    assert (
        ItemScore.objects.filter(run=run, item__has_candidates=True)
        .exclude(best_candidates={})
        .exists()
    )


def test_a_model_scores_a_corpus_in_no_project_and_curates_over_it(
    project, staff, trained, django_capture_on_commit_callbacks
):
    """The Align² path on a held-out corpus: no project changes, scores readable per item,
    the cascade selected over the scoring, the version exported."""
    from annotation.models import ProjectItem
    from tests.curation.helpers import candidate_corpus

    client = _client(staff)
    held_out = candidate_corpus("held-out", n_items=60, seed=7)
    project_items = ProjectItem.objects.count()
    # when: scoring the held-out corpus
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/api/v1/reward-models/{trained.pk}/scorings/",
            {"corpus_id": held_out.pk, "shard_size": 40},
            content_type="application/json",
        )
    assert response.status_code == 202, response.json()
    scoring_id = response.json()["id"]
    # then: every item scored, no project touched
    n_items = held_out.items.count()
    assert Job.objects.get(pk=response.json()["job"]["id"]).status == Job.Status.SUCCEEDED
    assert ItemScore.objects.filter(run=trained, item__corpus=held_out).count() == n_items
    assert ProjectItem.objects.count() == project_items
    assert not ProjectItem.objects.filter(item__corpus=held_out).exists()
    # per-item scores, best first, match the stored scores
    rows = client.get(f"/api/v1/scorings/{scoring_id}/items/?page_size=1000").json()["results"]
    assert len(rows) == n_items
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    stored = dict(
        ItemScore.objects.filter(run=trained, item__corpus=held_out).values_list(
            "item_id", "overall"
        )
    )
    assert {r["item_id"]: r["score"] for r in rows} == stored
    # the Align² cascade over the scoring, then committed and exported
    url = f"/api/v1/scorings/{scoring_id}/curations/"
    preview = client.post(url, {"policy": "align2llava"}, content_type="application/json").json()
    assert preview["items_scored"] == n_items and preview["selected"]["count"] > 0
    assert len(preview["random_baseline"]["item_ids"]) == preview["selected"]["count"]
    created = client.post(
        url, {"policy": "top10", "commit": True}, content_type="application/json"
    ).json()
    assert created["scoring"] == scoring_id and created["project"] == project.pk
    members = DatasetVersion.objects.get(pk=created["id"]).members.values_list(
        "item__corpus_id", flat=True
    )
    assert set(members) == {held_out.pk}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/api/v1/datasets/{created['id']}/exports/",
            {"format": "jsonl"},
            content_type="application/json",
        )
    export = Export.objects.get(pk=response.json()["id"])
    assert export.job.status == Job.Status.SUCCEEDED, export.job.error
    assert export.manifest["records"] == created["n_items"]
