"""Raw annotations of a project as a stream (JSON, JSON Lines or CSV), optionally of some
annotators only: what Label Studio's and Prodigy's exports give, for analysis outside Arbiter.

Rows are read in id order in chunks (`iterator`), so memory holds one chunk whatever the
project size; the response streams the text as it is produced.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

from annotation.models import Annotation, Project

FORMATS = ("json", "jsonl", "csv")
CHUNK = 2000
BASE_COLUMNS = [
    "annotation_id",
    "item_id",
    "external_id",
    "corpus_id",
    "category",
    "annotator",
    "source",
    "revision",
    "is_gold",
    "created_at",
    "updated_at",
]
# A cell a spreadsheet would run as a formula starts with one of these: such text is quoted.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def annotations_for_export(*, project: Project, annotators: list[str] | None = None):
    """The project's annotations in id order; with `annotators` (usernames), only theirs."""
    rows = Annotation.objects.filter(project=project)
    if annotators:
        rows = rows.filter(user__username__in=annotators)
    return (
        rows.order_by("id")
        .values_list(
            "id",
            "item_id",
            "item__external_id",
            "item__corpus_id",
            "item__category",
            "user__username",
            "source",
            "revision",
            "is_gold",
            "created_at",
            "updated_at",
            "answers",
        )
        .iterator(chunk_size=CHUNK)
    )


def _record(row: tuple) -> dict[str, Any]:
    record = dict(zip(BASE_COLUMNS, row[:-1], strict=True))
    record["created_at"] = record["created_at"].isoformat()
    record["updated_at"] = record["updated_at"].isoformat()
    record["answers"] = row[-1]
    return record


def _question_keys(project: Project) -> list[str]:
    rubric = getattr(project, "rubric", None)
    questions = rubric.questions if rubric is not None else []
    return [str(q["key"]) for q in questions if isinstance(q, dict) and "key" in q]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return "'" + text if text.startswith(FORMULA_START) else text


def annotation_export_stream(
    *, project: Project, fmt: str, annotators: list[str] | None = None
) -> Iterator[str]:
    """The export as text chunks. CSV has a column per rubric question (`answer:<key>`, JSON
    for lists and objects) and every answer as JSON in `answers`, so rules and per-turn
    answers are never lost."""
    rows: Iterable[tuple] = annotations_for_export(project=project, annotators=annotators)
    if fmt == "jsonl":
        for row in rows:
            yield json.dumps(_record(row), ensure_ascii=False) + "\n"
    elif fmt == "json":
        yield "["
        for n, row in enumerate(rows):
            yield ("," if n else "") + "\n" + json.dumps(_record(row), ensure_ascii=False)
        yield "\n]\n"
    elif fmt == "csv":
        keys = _question_keys(project)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow([*BASE_COLUMNS, *(f"answer:{k}" for k in keys), "answers"])
        for n, row in enumerate(rows, start=1):
            record = _record(row)
            answers = record["answers"] if isinstance(record["answers"], dict) else {}
            writer.writerow(
                [_cell(record[c]) for c in BASE_COLUMNS]
                + [_cell(answers.get(k)) for k in keys]
                + [json.dumps(record["answers"], ensure_ascii=False)]
            )
            if n % 500 == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()
    else:
        raise ValueError(f"unknown format {fmt!r}")
