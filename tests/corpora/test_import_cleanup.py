"""After an import: its uploaded files are gone (the report stays on the job), and a failed
import into a corpus made for it (as the UI does: create, then upload) leaves no corpus."""

from __future__ import annotations

import io
import json

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from annotation.services.projects import project_create
from core.models import Job
from corpora.models import Corpus, Item
from tests.corpora.llava import record
from tests.factories import CorpusFactory, ItemFactory, StaffFactory

pytestmark = pytest.mark.django_db


TWO = [record("1", image=None), record("2", image=None)]
DUPLICATE = [record("1", image=None), record("1", image=None)]


@pytest.fixture
def staff_client() -> APIClient:
    client = APIClient()
    client.force_authenticate(StaffFactory())
    return client


@pytest.fixture
def eager(django_capture_on_commit_callbacks):
    from webapp.celery import app

    app.conf.task_always_eager = True
    yield django_capture_on_commit_callbacks
    app.conf.task_always_eager = False


def _upload(client: APIClient, corpus_id: int, records: list, eager) -> Job:
    data = io.BytesIO(json.dumps(records).encode())
    data.name = "items.json"
    with eager(execute=True):
        response = client.post(
            f"/api/v1/corpora/{corpus_id}/imports/", {"file": data}, format="multipart"
        )
    assert response.status_code == 202, response.json()
    return Job.objects.get(pk=response.json()["id"])


def _uploads() -> list:
    root = settings.ARTIFACTS_ROOT / "uploads"
    return sorted(root.rglob("*")) if root.exists() else []


def test_a_finished_import_deletes_its_upload_and_keeps_the_report(staff_client, eager):
    corpus_id = staff_client.post("/api/v1/corpora/", {"name": "new"}, format="json").json()["id"]
    job = _upload(staff_client, corpus_id, TWO, eager)
    assert job.status == Job.Status.SUCCEEDED and job.result["created"] == 2
    assert _uploads() == []
    assert Item.objects.filter(corpus_id=corpus_id).count() == 2


def test_a_failed_import_into_a_new_corpus_leaves_no_corpus(staff_client, eager):
    # given: the UI's flow, a corpus created for the import, then the upload
    corpus_id = staff_client.post("/api/v1/corpora/", {"name": "new"}, format="json").json()["id"]
    # when: the file is refused (a duplicate id)
    job = _upload(staff_client, corpus_id, DUPLICATE, eager)
    # then: the job keeps its problems, the upload and the empty corpus are gone
    assert job.status == Job.Status.FAILED
    assert job.error["details"]["problems"][0]["code"] == "duplicate_id"
    assert not Corpus.objects.filter(pk=corpus_id).exists()
    assert _uploads() == []
    # and the name is free for the next try
    assert staff_client.post("/api/v1/corpora/", {"name": "new"}, format="json").status_code == 201


def test_a_failed_import_keeps_a_corpus_that_has_items(staff_client, eager):
    corpus = CorpusFactory()
    ItemFactory(corpus=corpus)
    job = _upload(staff_client, corpus.pk, DUPLICATE, eager)
    assert job.status == Job.Status.FAILED
    assert Corpus.objects.filter(pk=corpus.pk).exists() and _uploads() == []


def test_a_failed_import_keeps_an_empty_corpus_a_project_uses(staff_client, eager):
    corpus = CorpusFactory()
    project_create(name="p", corpora=[corpus], created_by=StaffFactory())
    job = _upload(staff_client, corpus.pk, DUPLICATE, eager)
    assert job.status == Job.Status.FAILED
    assert Corpus.objects.filter(pk=corpus.pk).exists()


def test_a_server_path_import_never_deletes_the_source(staff_client, eager, tmp_path):
    source = tmp_path / "keep.json"
    source.write_text(json.dumps([record("1", image=None)]))
    corpus = CorpusFactory()
    with eager(execute=True):
        response = staff_client.post(
            f"/api/v1/corpora/{corpus.pk}/imports/", {"path": str(source)}, format="json"
        )
    assert Job.objects.get(pk=response.json()["id"]).status == Job.Status.SUCCEEDED
    assert source.is_file()


def test_a_running_import_stops_at_its_next_chunk_when_cancelled(tmp_path):
    from django.core.cache import cache

    from corpora.services.corpus_import import corpus_import_start
    from workers.tasks import corpus_import_task

    corpus = CorpusFactory()
    source = tmp_path / "items.json"
    source.write_text(json.dumps(TWO))
    job = corpus_import_start(corpus=corpus, source=source, dispatch=False)
    # the owner cancels while the job runs (the flag job_cancel sets for a running job)
    cache.set(f"arbiter:job:{job.pk}:cancel", True)
    corpus_import_task.apply(args=[job.pk])
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED
    assert not Item.objects.filter(corpus=corpus).exists()
