"""Deleting a corpus: a background job that removes it and what depends on it, batch by batch,
hides it at once, refuses while the corpus is being imported or scored, and can run twice."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from annotation.models import Annotation, Assignment, ProjectItem
from core.models import Job
from core.services.job_liveness import jobs_reap
from core.services.jobs import JobCancelled, job_run
from corpora.models import Corpus, CorpusImage, ImageAsset, Item
from corpora.services.corpus_delete import corpus_delete, corpus_delete_start
from curation.models import DatasetItem, DatasetVersion, ItemScore, ScoringRun
from tests.corpora.deletion_world import World, deletion_world
from tests.factories import StaffFactory, UserFactory

pytestmark = pytest.mark.django_db


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def eager(django_capture_on_commit_callbacks):
    from webapp.celery import app

    app.conf.task_always_eager = True
    yield django_capture_on_commit_callbacks
    app.conf.task_always_eager = False


def _assert_only_doomed_is_gone(world: World) -> None:
    kept_items = Item.objects.filter(corpus=world.kept)
    assert not Corpus.objects.filter(pk=world.doomed.pk).exists()
    assert Item.objects.filter(corpus_id=world.doomed.pk).count() == 0
    assert Item.objects.count() == kept_items.count() == 5
    # what referenced the deleted items is gone; the kept corpus's rows are all there
    assert ProjectItem.objects.count() == 5
    assert Assignment.objects.count() == Annotation.objects.count() == 5
    assert ItemScore.objects.count() == 5
    assert set(DatasetItem.objects.values_list("item_id", flat=True)) == set(
        kept_items.values_list("pk", flat=True)
    )
    assert not ScoringRun.objects.filter(corpus_id=world.doomed.pk).exists()
    # the dataset version stays (it holds other items) without its scoring of the corpus
    assert DatasetVersion.objects.get(pk=world.dataset.pk).scoring_id is None
    assert list(world.project.corpora.all()) == [world.kept]
    # images: the shared one (row and file) stays, the one only this corpus used goes
    media = Path(settings.MEDIA_ROOT)
    assert list(ImageAsset.objects.all()) == [world.shared_image]
    assert (media / world.shared_image.file).is_file()
    assert not (media / world.own_image.file).exists()
    assert list(CorpusImage.objects.values_list("path", flat=True)) == ["b/shared.png"]


def test_deletion_removes_the_corpus_and_its_dependents_in_batches_and_nothing_else(
    django_capture_on_commit_callbacks,
):
    # given two corpora sharing a project, an image, a scoring run's model and a dataset
    world = deletion_world()
    seen: list[tuple[int, int]] = []
    # when the corpus is deleted two items at a time
    with django_capture_on_commit_callbacks(execute=True):
        counts = corpus_delete(
            corpus_id=world.doomed.pk,
            batch_size=2,
            progress=lambda current, total, message: seen.append((current, total)),
        )
    # then it is gone with what depended on it, and only that
    assert counts == {"items": 5, "image_links": 2, "images": 1}
    assert seen[:3] == [(2, 5), (4, 5), (5, 5)]
    _assert_only_doomed_is_gone(world)
    # and running it again (a redelivered task) changes nothing
    assert corpus_delete(corpus_id=world.doomed.pk) == {"items": 0, "image_links": 0, "images": 0}
    _assert_only_doomed_is_gone(world)


def test_staff_delete_through_the_api_hides_the_corpus_then_a_job_deletes_it(eager):
    world = deletion_world()
    staff = _client(StaffFactory())
    # when staff ask for the deletion (the job is held back to see the corpus hidden first)
    response = staff.delete(f"/api/v1/corpora/{world.doomed.pk}/")
    assert response.status_code == 202
    job = response.json()
    assert job["kind"] == "corpus_delete" and job["status"] == "queued"
    # then the corpus is hidden from lists and reads at once, and asking again is a 404
    assert [c["name"] for c in staff.get("/api/v1/corpora/").json()] == ["kept"]
    assert staff.get(f"/api/v1/corpora/{world.doomed.pk}/").status_code == 404
    assert staff.delete(f"/api/v1/corpora/{world.doomed.pk}/").status_code == 404
    # and the job deletes it, with its progress on the job
    from workers.tasks import corpus_delete_task

    with eager(execute=True):
        assert corpus_delete_task(job["id"]) == "succeeded"
    done = Job.objects.get(pk=job["id"])
    assert done.result == {"items": 5, "image_links": 2, "images": 1}
    assert (done.progress_current, done.progress_total) == (5, 5)
    _assert_only_doomed_is_gone(world)


def test_only_staff_delete_and_others_get_the_usual_answers():
    world = deletion_world()
    assert _client(UserFactory()).delete(f"/api/v1/corpora/{world.doomed.pk}/").status_code == 403
    assert APIClient().delete(f"/api/v1/corpora/{world.doomed.pk}/").status_code == 401
    assert Corpus.objects.filter(pk=world.doomed.pk, deleting=False).exists()


@pytest.mark.parametrize(
    ("kind", "what"),
    [(Job.Kind.CORPUS_IMPORT, "An import"), (Job.Kind.CORPUS_SCORE, "A scoring")],
)
@pytest.mark.parametrize("status", [Job.Status.QUEUED, Job.Status.RUNNING])
def test_deletion_is_refused_while_the_corpus_is_imported_or_scored(kind, what, status):
    world = deletion_world(n_items=1)
    Job.objects.create(kind=kind, status=status, params={"corpus_id": world.doomed.pk})
    Job.objects.create(kind=kind, status=status, params={"corpus_id": world.kept.pk})
    response = _client(StaffFactory()).delete(f"/api/v1/corpora/{world.doomed.pk}/")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "corpus_busy"
    assert error["message"].startswith(f"{what} of this corpus is running")
    assert not Corpus.objects.get(pk=world.doomed.pk).deleting
    assert not Job.objects.filter(kind=Job.Kind.CORPUS_DELETE).exists()


def test_a_cancelled_deletion_stops_between_batches_and_shows_what_is_left():
    # given a deletion started and asked to cancel after its first batch
    world = deletion_world()
    job = corpus_delete_start(corpus=world.doomed, dispatch=False)
    assert Corpus.objects.get(pk=world.doomed.pk).deleting

    def body(job: Job) -> dict:
        def progress(current: int, total: int, message: str) -> None:
            raise JobCancelled()

        return corpus_delete(corpus_id=job.params["corpus_id"], batch_size=2, progress=progress)

    # when it runs
    assert job_run(job.pk, body).status == Job.Status.CANCELLED
    # then one batch is deleted and the rest of the corpus is visible again, deletable again
    corpus = Corpus.objects.get(pk=world.doomed.pk)
    assert not corpus.deleting and corpus.items.count() == 3
    again = corpus_delete_start(corpus=corpus, dispatch=False)
    assert again.pk != job.pk and again.kind == Job.Kind.CORPUS_DELETE


def _died_after_one_batch(world: World) -> Job:
    """A deletion whose worker committed one batch, then stopped heart-beating an hour ago."""
    job = corpus_delete_start(corpus=world.doomed, dispatch=False)

    def one_batch(current: int, total: int, message: str) -> None:
        raise RuntimeError("the worker dies here")

    with pytest.raises(RuntimeError):
        corpus_delete(corpus_id=world.doomed.pk, batch_size=2, progress=one_batch)
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.RUNNING,
        attempts=1,
        worker="w1@host pid 42",
        heartbeat_at=timezone.now() - timedelta(hours=1),
        started_at=timezone.now() - timedelta(hours=1),
    )
    return job


def test_a_deletion_whose_worker_died_is_requeued_and_finishes_what_is_left(eager):
    world = deletion_world()
    job = _died_after_one_batch(world)
    assert Item.objects.filter(corpus_id=world.doomed.pk).count() == 3
    # when the reaper finds it, the job is sent again and deletes the rest
    with eager(execute=True):
        assert jobs_reap() == [job.pk]
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED and job.attempts == 2
    assert job.result["items"] == 3
    _assert_only_doomed_is_gone(world)


def test_a_deletion_out_of_attempts_fails_and_shows_what_is_left(settings, eager):
    settings.ARBITER_JOB_MAX_ATTEMPTS = 1
    world = deletion_world()
    job = _died_after_one_batch(world)
    with eager(execute=True):
        assert jobs_reap() == [job.pk]
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and job.error["code"] == "worker_lost"
    corpus = Corpus.objects.get(pk=world.doomed.pk)
    assert not corpus.deleting and corpus.items.count() == 3


def test_the_corpora_page_lists_no_corpus_being_deleted_and_offers_deletion(client):
    world = deletion_world(n_items=1)
    corpus_delete_start(corpus=world.doomed, dispatch=False)
    client.force_login(StaffFactory())
    page = client.get("/corpora/").content.decode()
    assert "doomed" not in page
    assert f'data-delete="{world.kept.pk}"' in page and 'id="delete-dialog"' in page


def test_no_import_or_scoring_is_queued_once_a_deletion_has_started(tmp_path):
    # given a deletion that has started (the import or scoring request raced past the read)
    from curation.models import RewardModelRun
    from curation.services.scoring import scoring_start

    world = deletion_world(n_items=1)
    corpus_delete_start(corpus=world.doomed, dispatch=False)
    source = tmp_path / "c.json"
    source.write_text("[]")
    # then queuing work on the corpus is refused, as for a missing corpus
    from core.errors import DomainError
    from corpora.services.corpus_import import corpus_import_start

    with pytest.raises(DomainError) as refused:
        corpus_import_start(corpus=world.doomed, source=source, dispatch=False)
    assert refused.value.status == 404
    run = RewardModelRun.objects.get(project=world.project)
    Job.objects.filter(pk=run.job_id).update(status=Job.Status.SUCCEEDED)
    run.artifact_path = "runs/x"
    run.save(update_fields=["artifact_path"])
    with pytest.raises(DomainError):
        scoring_start(run=run, corpus=world.doomed)
    kinds = set(
        Job.objects.filter(params__corpus_id=world.doomed.pk).values_list("kind", flat=True)
    )
    assert kinds == {Job.Kind.CORPUS_DELETE}


def test_an_upload_refused_by_a_deletion_that_began_meanwhile_leaves_no_file(monkeypatch):
    # given the upload's request read the corpus just before its deletion began (the race is
    # forced: the read answers as it did before the deletion)
    import io
    import json

    from corpora.api import corpora as corpora_api
    from corpora.services.corpus_import import uploads_root

    world = deletion_world(n_items=1)
    corpus_delete_start(corpus=world.doomed, dispatch=False)
    monkeypatch.setattr(corpora_api, "corpus_get", lambda corpus_id: world.doomed)
    upload = io.BytesIO(json.dumps([]).encode())
    upload.name = "late.json"
    # when the upload arrives
    response = _client(StaffFactory()).post(
        f"/api/v1/corpora/{world.doomed.pk}/imports/", {"file": upload}
    )
    # then it is refused and its saved file is gone with it
    assert response.status_code == 404
    root = uploads_root()
    assert not root.exists() or not any(root.iterdir())
