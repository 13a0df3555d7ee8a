"""The PostgreSQL import path: a parse process formats COPY rows, the importer writes them.

Small chunks force many COPY round trips, so that chunk boundaries, rollback of chunks already
written and re-import counts across chunks are all exercised.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.db import connection

from corpora.models import Corpus, CorpusImage, ImageAsset, Item
from corpora.pipeline.problems import MAX_PROBLEMS, ImportFailed
from corpora.services import corpus_import as service
from corpora.services.corpus_import import corpus_import
from tests.corpora.llava import record, write_images, write_json

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture(autouse=True)
def _postgres_and_small_chunks(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (make test-integration)")
    monkeypatch.setattr(service, "COPY_CHUNK_SIZE", 3)


@pytest.fixture
def corpus() -> Corpus:
    return Corpus.objects.create(name="pg")


@pytest.fixture
def images(tmp_path: Path) -> Path:
    return write_images(tmp_path / "imgs", {"a.png": (255, 0, 0), "b.png": (0, 0, 255)})


def test_awkward_text_survives_copy_exactly(tmp_path, corpus, images):
    # given: every character COPY's text format treats specially, in every kind of column
    awkward = 'tab\there, newline\nthere, cr\r, backslash \\ and \\N, quote ", ünïcödé ✓'
    rec = record("id\twith\\odd\nchars", answer=awkward)
    rec["conversations"][0]["value"] = "<image>\n" + awkward
    rec["category"] = "cat\\egory\t1"
    rec["note"] = {"k\\ey": [awkward, 0.25, None, True]}
    source = write_json(tmp_path / "c.json", [rec, record("plain")])
    # when
    report = corpus_import(corpus=corpus, source=source, images=images)
    # then
    assert report.created == 2
    item = Item.objects.get(corpus=corpus, external_id="id\twith\\odd\nchars")
    assert item.conversations == rec["conversations"]
    assert item.category == "cat\\egory\t1"
    assert item.extra == {"note": {"k\\ey": [awkward, 0.25, None, True]}}
    assert item.image is not None and item.image_path == "a.png"


def test_candidates_questions_and_no_image(tmp_path, corpus, images):
    rich = record("r1", None)
    rich["conversations"][1] = {"from": "gpt", "value": ["x", "y"], "score": [0.5, 1]}
    questions = {"id": "q1", "image": "b.png", "questions": [["<image>\nWhy?"]], "score": [0.5]}
    source = write_json(tmp_path / "c.json", [rich, questions])
    corpus_import(corpus=corpus, source=source, images=images)
    r1 = Item.objects.get(external_id="r1")
    assert r1.has_candidates and r1.image is None and r1.questions is None
    q1 = Item.objects.get(external_id="q1")
    assert q1.questions == [["<image>\nWhy?"]] and q1.question_scores == [0.5]
    assert q1.conversations == [] and q1.image.format == "PNG"


def test_reimport_across_chunks_counts_and_updates(tmp_path, corpus, images):
    records = [record(str(i), "a.png" if i % 2 else "b.png") for i in range(10)]
    source = write_json(tmp_path / "c.json", records)
    first = corpus_import(corpus=corpus, source=source, images=images)
    assert (first.items_read, first.created, first.updated, first.unchanged) == (10, 10, 0, 0)
    again = corpus_import(corpus=corpus, source=source)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 10)
    records[4] = record("4", "b.png", answer="changed")
    records[8] = record("8", "a.png")  # same text, other image
    records.append(record("10"))
    write_json(source, records)
    third = corpus_import(corpus=corpus, source=source)
    assert (third.created, third.updated, third.unchanged) == (1, 2, 8)
    assert Item.objects.filter(corpus=corpus).count() == 11
    assert Item.objects.get(external_id="4").conversations[1]["value"] == "changed"
    assert Item.objects.get(external_id="8").image_path == "a.png"
    corpus.refresh_from_db()
    assert corpus.version == 2


def test_problem_in_a_late_chunk_rolls_back_the_chunks_already_written(tmp_path, corpus, images):
    records = [record(str(i)) for i in range(12)] + [record("12", "missing.png")]
    source = write_json(tmp_path / "c.json", records)
    with pytest.raises(ImportFailed) as exc:
        corpus_import(corpus=corpus, source=source, images=images)
    (problem,) = exc.value.problems
    assert (problem.code, problem.index, problem.item_id) == ("missing_image", 12, "12")
    assert not Item.objects.filter(corpus=corpus).exists()
    assert not CorpusImage.objects.filter(corpus=corpus).exists()
    assert ImageAsset.objects.count() == 0


def test_file_over_the_parse_memory_cap_fails_cleanly_after_chunks_were_written(
    tmp_path, corpus, images, settings
):
    # given: valid chunks first, then a valid record too big for a 40 MB parse process
    records = [record(str(i)) for i in range(12)]
    records.append(record("big", answer="x" * (16 * 1024 * 1024)))
    source = write_json(tmp_path / "c.json", records)
    settings.ARBITER_IMPORT_PARSE_MEMORY_MB = 40
    # when
    with pytest.raises(ImportFailed) as exc:
        corpus_import(corpus=corpus, source=source, images=images)
    # then
    (problem,) = exc.value.problems
    assert problem.code == "file_too_large_to_parse"
    assert "needs more than 40 MB to parse" in problem.message
    assert not Item.objects.filter(corpus=corpus).exists()
    assert not CorpusImage.objects.filter(corpus=corpus).exists()
    assert ImageAsset.objects.count() == 0
    corpus.refresh_from_db()
    assert corpus.version == 0


def test_deep_nesting_after_valid_chunks_is_refused_with_where(tmp_path, corpus, images):
    good = ",\n".join(json.dumps(record(str(i))) for i in range(7))
    source = tmp_path / "c.json"
    source.write_text(f'[\n{good},\n{{"id": "x", "n": {"[" * 100_000}{"]" * 100_000}}}\n]')
    with pytest.raises(ImportFailed) as exc:
        corpus_import(corpus=corpus, source=source, images=images)
    (problem,) = exc.value.problems
    assert (problem.code, problem.line, problem.column) == ("too_deeply_nested", 9, 80)
    assert not Item.objects.filter(corpus=corpus).exists()


def test_duplicate_id_in_a_later_chunk(tmp_path, corpus, images):
    records = [record(str(i)) for i in range(8)] + [record("2")]
    source = write_json(tmp_path / "c.json", records)
    with pytest.raises(ImportFailed) as exc:
        corpus_import(corpus=corpus, source=source, images=images)
    (problem,) = exc.value.problems
    assert (problem.code, problem.index) == ("duplicate_id", 8)
    assert "item #2" in problem.message
    assert not Item.objects.filter(corpus=corpus).exists()


def test_syntax_error_after_valid_chunks(tmp_path, corpus, images):
    good = ",\n".join(json.dumps(record(str(i))) for i in range(7))
    source = tmp_path / "c.json"
    source.write_text(f'[\n{good},\n{{"id": "x",, }}\n]')
    with pytest.raises(ImportFailed) as exc:
        corpus_import(corpus=corpus, source=source, images=images)
    (problem,) = exc.value.problems
    assert (problem.code, problem.line, problem.column) == ("invalid_json", 9, 12)
    assert problem.index == 7
    assert not Item.objects.filter(corpus=corpus).exists()


def test_many_problems_stop_the_import_early(tmp_path, corpus):
    records = [{"id": str(i)} for i in range(MAX_PROBLEMS + 50)]
    source = write_json(tmp_path / "c.json", records)
    with pytest.raises(ImportFailed) as exc:
        corpus_import(corpus=corpus, source=source)
    assert exc.value.truncated and len(exc.value.problems) == MAX_PROBLEMS
    assert not Item.objects.filter(corpus=corpus).exists()


def test_jsonl_lines_are_reported(tmp_path, corpus, images):
    source = tmp_path / "c.jsonl"
    lines = [json.dumps(record(str(i))) for i in range(5)] + ['{"id": "5"}']
    source.write_text("\n".join(lines) + "\n")
    with pytest.raises(ImportFailed) as exc:
        corpus_import(corpus=corpus, source=source, images=images)
    (problem,) = exc.value.problems
    assert (problem.line, problem.index, problem.field) == (6, 5, "conversations")


def test_text_postgresql_cannot_store_is_a_problem_not_a_crash(tmp_path, corpus, images):
    # given: a NUL character and an over-long image path, each in a record of its own, after
    # valid ones (a lone surrogate escape never gets this far: the C parser turns it into "?")
    good = [record(str(i), "a.png") for i in range(4)]
    text = json.dumps(good)[:-1]
    text += ', {"id": "nul", "image": "a.png", "conversations": [{"from": "human", "value": '
    text += '"<image>\\nhi"}, {"from": "gpt", "value": "a\\u0000b"}]}'
    text += f", {json.dumps(record('long', 'x' * 1100 + '.png'))}]"
    source = tmp_path / "c.json"
    source.write_text(text, encoding="utf-8")
    # when
    with pytest.raises(ImportFailed) as exc:
        corpus_import(corpus=corpus, source=source, images=images)
    # then: one clear problem per bad record, nothing written
    found = {(p.item_id, p.field): p.message for p in exc.value.problems}
    assert "NUL character" in found[("nul", None)]
    assert "longer than 1024" in found[("long", "image")]
    assert not Item.objects.filter(corpus=corpus).exists()
