"""A corpus import submitted through the API runs in a real Celery worker (PostgreSQL, Redis)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from corpora.models import Item
from tests.conftest import wait_for_job
from tests.corpora.llava import png_bytes, record, write_json
from tests.factories import CorpusFactory, StaffFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_upload_import_completes_in_worker(worker, tmp_path):
    import io
    import zipfile

    staff = StaffFactory()
    corpus = CorpusFactory()
    client = APIClient()
    client.force_authenticate(staff)
    source = write_json(tmp_path / "conversation_58k.json", [record(str(i)) for i in range(50)])
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("a.png", png_bytes())
    archive.seek(0)
    archive.name = "images.zip"
    with source.open("rb") as handle:
        response = client.post(
            f"/api/v1/corpora/{corpus.pk}/imports/",
            {"file": handle, "images": archive},
            format="multipart",
        )
    assert response.status_code == 202, response.content
    job = wait_for_job(response.json()["id"])
    assert job.status == "succeeded", job.error
    assert job.result["created"] == 50
    assert Item.objects.filter(corpus=corpus, category="conversation").count() == 50
    body = client.get(f"/api/v1/jobs/{job.pk}/").json()
    assert body["status"] == "succeeded" and body["progress"]["fraction"] == 1.0


def test_failed_import_reports_problems_through_the_api(worker, tmp_path):
    staff = StaffFactory()
    corpus = CorpusFactory()
    client = APIClient()
    client.force_authenticate(staff)
    bad = record("2")
    del bad["conversations"]
    source = write_json(tmp_path / "c.json", [record("1", None), bad])
    response = client.post(
        f"/api/v1/corpora/{corpus.pk}/imports/", {"path": str(source)}, format="json"
    )
    job = wait_for_job(response.json()["id"])
    body = client.get(f"/api/v1/jobs/{job.pk}/").json()
    assert body["status"] == "failed"
    assert body["error"]["code"] == "import_invalid"
    (problem,) = body["error"]["details"]["problems"]
    assert (
        problem["index"] == 1 and problem["item_id"] == "2" and problem["field"] == "conversations"
    )
    assert not Item.objects.filter(corpus=corpus).exists()


def test_healthz_sees_database_broker_and_worker(worker, client):
    import time

    # Each test empties the tables, heartbeat rows too; the worker writes its next one within 5 s.
    deadline = time.monotonic() + 15
    while (body := client.get("/healthz").json())["ok"] is False and time.monotonic() < deadline:
        time.sleep(0.5)
    assert body["ok"] is True
    assert body["database"]["vendor"] == "postgresql"
    assert body["broker"]["transport"] == "redis"
    assert worker.hostname in [w["hostname"] for w in body["workers"]["alive"]]
    assert set(body["workers"]["queues"]) == {"cpu", "gpu"}
