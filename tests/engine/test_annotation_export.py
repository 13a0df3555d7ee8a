"""Raw annotations exported as JSON, JSON Lines or CSV, all or per annotator, streamed."""

from __future__ import annotations

import csv
import io
import json

import pytest

from annotation.models import Annotation, ProjectItem
from corpora.models import Item
from tests.engine.conftest import client_for, good_answers

pytestmark = pytest.mark.django_db


@pytest.fixture
def answered(project, annotators):
    pitems = list(ProjectItem.objects.filter(project=project).order_by("item_id")[:3])
    Item.objects.filter(pk=pitems[0].item_id).update(category="=SUM(1)")  # corpus text
    for n, user in enumerate(annotators[:2]):
        for pitem in pitems:
            answers = good_answers(helpfulness=n + 2)
            if n == 1 and pitem == pitems[0]:
                answers["note"] = '=HYPERLINK("http://x")'  # a formula, as a spreadsheet sees it
            Annotation.objects.create(
                project=project, project_item=pitem, item_id=pitem.item_id, user=user,
                answers=answers,
            )  # fmt: skip
    return pitems


def _body(response) -> str:
    assert response.status_code == 200, response.content
    assert response.streaming
    return b"".join(response.streaming_content).decode()


def test_json_holds_every_annotation_with_its_item_and_annotator(project, answered, reviewer):
    response = client_for(reviewer).get(f"/api/v1/projects/{project.pk}/annotations/export/")
    assert response["Content-Type"] == "application/json"
    assert "attachment" in response["Content-Disposition"]
    records = json.loads(_body(response))
    assert len(records) == 6
    assert {r["annotator"] for r in records} == {"ann0", "ann1"}
    first = records[0]
    assert first["item_id"] == answered[0].item_id and first["answers"]["helpfulness"] == 2
    assert first["external_id"] and first["corpus_id"] and first["created_at"]


def test_per_annotator_jsonl(project, answered, reviewer):
    url = f"/api/v1/projects/{project.pk}/annotations/export/?file_format=jsonl&annotator=ann1"
    lines = _body(client_for(reviewer).get(url)).splitlines()
    assert len(lines) == 3
    assert all(json.loads(line)["annotator"] == "ann1" for line in lines)
    assert _body(client_for(reviewer).get(url.replace("ann1", "nobody"))) == ""


def test_csv_has_a_column_per_question_and_defuses_formulas(project, answered, reviewer):
    url = f"/api/v1/projects/{project.pk}/annotations/export/?file_format=csv"
    response = client_for(reviewer).get(url)
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(_body(response))))
    assert len(rows) == 6
    assert rows[0]["answer:helpfulness"] == "2" and rows[3]["answer:helpfulness"] == "3"
    assert json.loads(rows[0]["answer:best_answer"]) == {"turn": 1, "ranking": [[1], [0, 2]]}
    noted = next(r for r in rows if "note" in json.loads(r["answers"]))
    assert json.loads(noted["answers"])["note"].startswith("=HYPERLINK")
    assert rows[0]["category"] == "'=SUM(1)"  # a spreadsheet shows it, does not run it
    assert not any(cell.startswith("=") for row in rows for cell in row.values())


def test_an_empty_project_and_a_bad_format(project, reviewer):
    client = client_for(reviewer)
    assert json.loads(_body(client.get(f"/api/v1/projects/{project.pk}/annotations/export/"))) == []
    bad = client.get(f"/api/v1/projects/{project.pk}/annotations/export/?file_format=xml")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_format"
