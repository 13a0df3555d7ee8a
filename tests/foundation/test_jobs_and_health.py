"""Job bookkeeping, the import command, and /healthz on the embedded default."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from core.models import Job
from core.services.jobs import (
    JobCancelled,
    job_cancel,
    job_create,
    job_live_progress,
    job_progress,
    job_run,
)
from corpora.models import Item
from tests.corpora.llava import record, write_images, write_json
from tests.factories import CorpusFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_job_run_records_success_and_progress():
    job = job_create(kind=Job.Kind.CORPUS_IMPORT, params={})

    def body(running: Job) -> dict:
        assert running.status == Job.Status.RUNNING
        job_progress(job_id=running.pk, current=3, total=4, message="three of four")
        live = job_live_progress(Job.objects.get(pk=running.pk))
        assert live == {"current": 3, "total": 4, "message": "three of four"}
        return {"answer": 42}

    finished = job_run(job.pk, body)
    assert finished.status == Job.Status.SUCCEEDED and finished.result == {"answer": 42}
    assert finished.progress_current == finished.progress_total == 4
    assert finished.attempts == 1 and finished.finished_at is not None
    # A redelivered task finds the job finished and does not run the body again.
    assert job_run(job.pk, lambda _: pytest.fail("ran twice")).status == Job.Status.SUCCEEDED


def test_job_run_records_failure_with_error_shape(caplog):
    job = job_create(kind=Job.Kind.CORPUS_IMPORT, params={})

    def body(_: Job) -> dict:
        raise OSError(f"cannot read {__file__}")

    failed = job_run(job.pk, body)
    assert failed.status == Job.Status.FAILED
    # the client gets a message and an error id; no traceback, no exception text, no path
    error_id = failed.error["details"]["error_id"]
    assert failed.error == {
        "code": "job_failed",
        "message": f"The job failed unexpectedly (error id {error_id}).",
        "details": {"error_id": error_id},
    }
    assert failed.message == failed.error["message"]
    # the log has the traceback under the same id
    logged = [r for r in caplog.records if error_id in r.getMessage()]
    assert logged and logged[0].exc_info and logged[0].exc_info[0] is OSError
    client = APIClient()
    client.force_authenticate(StaffFactory())
    body_text = client.get(f"/api/v1/jobs/{job.pk}/").content.decode()
    assert error_id in body_text
    for leak in ("Traceback", "OSError", __file__, "/work/", "site-packages"):
        assert leak not in body_text


def test_cancel_queued_and_running_jobs():
    queued = job_create(kind=Job.Kind.CORPUS_IMPORT, params={})
    assert job_cancel(job=queued).status == Job.Status.CANCELLED
    running = job_create(kind=Job.Kind.CORPUS_IMPORT, params={})

    def body(job: Job) -> dict:
        job_cancel(job=job)
        raise JobCancelled

    assert job_run(running.pk, body).status == Job.Status.CANCELLED


def test_job_api_hides_other_users_jobs():
    owner, other = UserFactory(), UserFactory()
    job = job_create(kind=Job.Kind.CORPUS_IMPORT, params={}, created_by=owner)
    client = APIClient()
    client.force_authenticate(other)
    response = client.get(f"/api/v1/jobs/{job.pk}/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    client.force_authenticate(owner)
    assert client.get(f"/api/v1/jobs/{job.pk}/").json()["status"] == "queued"


def test_import_command_runs_the_job_here(tmp_path):
    images = write_images(tmp_path / "imgs", {"a.png": (9, 9, 9)})
    source = write_json(tmp_path / "c.json", [record("1"), record("2")])
    call_command("import_corpus", str(source), "--corpus", "cli", "--images", str(images))
    assert Item.objects.filter(corpus__name="cli").count() == 2
    job = Job.objects.get()
    assert job.status == Job.Status.SUCCEEDED and job.result["created"] == 2


def test_import_command_prints_problems_and_fails(tmp_path, capsys):
    source = write_json(tmp_path / "c.json", [record("1"), record("1")])
    with pytest.raises(CommandError, match="duplicate|nothing was imported"):
        call_command("import_corpus", str(source), "--corpus", "cli")
    assert "duplicate_id" in capsys.readouterr().err
    assert not Item.objects.exists()


def test_import_api_validates_input_and_needs_staff(tmp_path):
    corpus = CorpusFactory()
    client = APIClient()
    client.force_authenticate(UserFactory())
    url = f"/api/v1/corpora/{corpus.pk}/imports/"
    assert client.post(url, {"path": "/x"}, format="json").status_code == 403
    client.force_authenticate(StaffFactory())
    response = client.post(url, {}, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "validation_error",
        "message": "Give exactly one of `file` or `path`.",
        "details": {"fields": {"non_field_errors": ["Give exactly one of `file` or `path`."]}},
    }
    missing = client.post(url, {"path": str(tmp_path / "nope.json")}, format="json")
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "file_not_found"


def test_healthz_reports_missing_worker(client):
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 503
    assert body["database"]["ok"] is True and body["database"]["vendor"] == "sqlite"
    assert body["workers"] == {"ok": False, "alive": [], "queues": []}


def test_healthz_sees_a_fresh_heartbeat(client):
    from django.utils import timezone

    from workers.heartbeat import heartbeat_write

    heartbeat_write(hostname="w1@test", queues=["cpu"], started_at=timezone.now())
    body = client.get("/healthz").json()
    assert body["workers"]["ok"] is True and body["workers"]["queues"] == ["cpu"]


def test_openapi_schema_documents_every_operation(client):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = [
        (path, method, operation)
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    ]
    assert len(operations) >= 5
    for path, method, operation in operations:
        assert operation.get("operationId"), (path, method)
        if path.startswith("/api/v1/auth/"):
            continue
        assert any(code.startswith("4") for code in operation["responses"]), (path, method)
    assert client.get("/api/schema/").status_code == 200
