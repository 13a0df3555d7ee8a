"""What an import tells its user: the uploaded file's own name, problems in file order, and
both places of an id used twice in one file."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from core.models import Job
from corpora.models import Corpus
from corpora.pipeline.problems import ImportFailed, Problem
from corpora.services.corpus_import import corpus_import, corpus_import_start
from tests.corpora.llava import record, write_images
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def eager(django_capture_on_commit_callbacks):
    from webapp.celery import app

    app.conf.task_always_eager = True
    yield django_capture_on_commit_callbacks
    app.conf.task_always_eager = False


def test_an_upload_is_shown_by_its_own_name_not_the_server_path(client, eager):
    # given a staff user uploading "my split (v2).json" into a corpus
    staff = StaffFactory()
    api = APIClient()
    api.force_authenticate(staff)
    corpus = Corpus.objects.create(name="c")
    upload = io.BytesIO(json.dumps([record("1", None)]).encode())
    upload.name = "my split (v2).json"
    # when it is imported
    with eager(execute=True):
        response = api.post(f"/api/v1/corpora/{corpus.pk}/imports/", {"file": upload})
    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["id"])
    # then the job records the file's name, and the corpora page lists the import by it
    assert job.status == Job.Status.SUCCEEDED
    assert job.params["source_name"] == "my split (v2).json"
    assert response.json()["params"]["source_name"] == "my split (v2).json"
    client.force_login(staff)
    page = client.get(reverse("corpora")).content.decode()
    assert f"#{job.pk} my split (v2).json" in page
    assert job.params["source"] not in page  # the server's upload folder stays private


def test_a_server_path_import_is_named_by_its_file(tmp_path):
    source = tmp_path / "llava_instruct_150k.json"
    source.write_text("[]")
    corpus = Corpus.objects.create(name="c")
    job = corpus_import_start(corpus=corpus, source=source, dispatch=False)
    assert job.params["source_name"] == "llava_instruct_150k.json"


def test_problems_are_reported_in_file_order_whole_file_problems_first():
    # given problems found in several passes (records, then images, then the file's end)
    found = [
        Problem("missing_image", "m", line=9, index=3),
        Problem("invalid_record", "r", line=2, index=0),
        Problem("syntax_error", "s", line=9, column=14),
        Problem("syntax_error", "s", line=9, column=2),
        Problem("image_source_invalid", "whole file"),
        Problem("invalid_record", "r", index=1),
    ]
    failed = ImportFailed(found)
    # then the report sorts them by line, then column, then record index
    assert [(p.line, p.column, p.index) for p in failed.problems] == [
        (None, None, None),
        (None, None, 1),
        (2, None, 0),
        (9, None, 3),
        (9, 2, None),
        (9, 14, None),
    ]
    assert [p["code"] for p in failed.as_error()["details"]["problems"]][:1] == [
        "image_source_invalid"
    ]
    assert str(failed).startswith("Import failed, nothing was imported: whole file")


def test_a_duplicate_id_names_both_records_and_their_lines(tmp_path):
    # given a JSONL file that uses id "1" on lines 1 and 3, and id "2" on lines 2 and 4
    corpus = Corpus.objects.create(name="c")
    images = write_images(tmp_path / "imgs", {"a.png": (255, 0, 0)})
    source = tmp_path / "c.jsonl"
    lines = [record("1"), record("2"), record("1"), record("2")]
    source.write_text("".join(json.dumps(rec) + "\n" for rec in lines))
    # when it is imported
    with pytest.raises(ImportFailed) as exc:
        corpus_import(corpus=corpus, source=source, images=images)
    # then each duplicate says where it is and where the id was first used
    problems = [problem.as_dict() for problem in exc.value.problems]
    assert problems == [
        {
            "code": "duplicate_id",
            "message": "id also used by item #0, line 1 of this file",
            "line": 3,
            "index": 2,
            "item_id": "1",
            "field": "id",
            "first_line": 1,
            "first_index": 0,
        },
        {
            "code": "duplicate_id",
            "message": "id also used by item #1, line 2 of this file",
            "line": 4,
            "index": 3,
            "item_id": "2",
            "field": "id",
            "first_line": 2,
            "first_index": 1,
        },
    ]
    assert "line 3; item #2; id '1'; field 'id': id also used by item #0, line 1" in str(exc.value)
    assert not corpus.items.exists()


def test_a_duplicate_id_across_chunks_of_a_json_array_names_the_first_record_by_index(
    tmp_path, monkeypatch
):
    from corpora.services import corpus_import as service

    monkeypatch.setattr(service, "BATCH_SIZE", 2)
    corpus = Corpus.objects.create(name="c")
    images = write_images(tmp_path / "imgs", {"a.png": (255, 0, 0)})
    records = [record(str(i)) for i in range(5)] + [record("1")]
    source = Path(tmp_path / "c.json")
    source.write_text(json.dumps(records, indent=1))
    with pytest.raises(ImportFailed) as exc:
        corpus_import(corpus=corpus, source=source, images=images)
    (problem,) = exc.value.problems
    assert (problem.code, problem.index, problem.first_index) == ("duplicate_id", 5, 1)
    # a JSON array is read without line numbers (streamed); records are placed by index
    assert problem.message == "id also used by item #1 of this file"
