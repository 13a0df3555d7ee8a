"""Corpus import: formats, images, idempotency, and every kind of bad input."""

from __future__ import annotations

import io
import json
import tarfile
import time
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from corpora.models import Corpus, CorpusImage, ImageAsset, Item
from corpora.pipeline.problems import ImportFailed
from corpora.services.corpus_import import corpus_import
from tests.corpora.llava import png_bytes, record, write_images, write_json

pytestmark = pytest.mark.django_db


@pytest.fixture
def corpus() -> Corpus:
    return Corpus.objects.create(name="c")


@pytest.fixture
def images(tmp_path: Path) -> Path:
    return write_images(tmp_path / "imgs", {"a.png": (255, 0, 0), "sub/b.png": (0, 0, 255)})


def _problems(exc: pytest.ExceptionInfo) -> list[dict]:
    return [problem.as_dict() for problem in exc.value.problems]


def test_llava_json_with_folder_is_imported(tmp_path, corpus, images):
    # given
    source = write_json(
        tmp_path / "detail_23k.json",
        [record("1", "a.png"), record("2", "sub/b.png"), record("3", None)],
    )
    # when
    report = corpus_import(corpus=corpus, source=source, images=images)
    # then
    assert (report.created, report.updated, report.unchanged) == (3, 0, 0)
    assert report.images_stored == 2
    item = Item.objects.get(corpus=corpus, external_id="2")
    assert item.category == "detail"  # kept from LLaVA's split file name
    assert item.image.width == 8 and item.image.height == 6 and item.image.format == "PNG"
    stored = Path(corpus_import.__globals__["settings"].MEDIA_ROOT) / item.image.file
    assert stored.read_bytes() == (images / "sub/b.png").read_bytes()
    assert Item.objects.get(external_id="3").image is None
    corpus.refresh_from_db()
    assert corpus.version == 1


def test_jsonl_and_candidate_rich_records(tmp_path, corpus, images):
    rich = record("r1")
    rich["conversations"][1] = {"from": "gpt", "value": ["x", "y", "z"], "score": [0.6, 0.8, 0.6]}
    questions = {
        "id": "q1",
        "image": "a.png",
        "questions": [["<image>\nWhy?"], ["What?"]],
        "score": [0.5, 0.7],
    }
    source = tmp_path / "data.jsonl"
    source.write_text("\n".join(json.dumps(r) for r in [record("1"), rich, questions]) + "\n")
    report = corpus_import(corpus=corpus, source=source, images=images)
    assert report.created == 3
    item = Item.objects.get(external_id="r1")
    assert item.has_candidates and item.conversations[1]["score"] == [0.6, 0.8, 0.6]
    q = Item.objects.get(external_id="q1")
    assert q.questions == [["<image>\nWhy?"], ["What?"]] and q.question_scores == [0.5, 0.7]


def test_reimport_is_idempotent_and_counts_changes(tmp_path, corpus, images):
    source = write_json(tmp_path / "c.json", [record("1"), record("2")])
    corpus_import(corpus=corpus, source=source, images=images)
    again = corpus_import(corpus=corpus, source=source, images=images)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    write_json(source, [record("1"), record("2", answer="A red square, changed."), record("3")])
    # Images are referenced by path now; the folder need not be given again.
    third = corpus_import(corpus=corpus, source=source)
    assert (third.created, third.updated, third.unchanged) == (1, 1, 1)
    assert Item.objects.filter(corpus=corpus).count() == 3
    assert ImageAsset.objects.count() == 1
    assert Item.objects.get(external_id="2").conversations[1]["value"] == "A red square, changed."


def test_same_image_in_two_corpora_is_stored_once(tmp_path, images):
    source = write_json(tmp_path / "c.json", [record("1")])
    for name in ("one", "two"):
        corpus_import(corpus=Corpus.objects.create(name=name), source=source, images=images)
    assert ImageAsset.objects.count() == 1
    assert CorpusImage.objects.count() == 2


@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_images_from_archive(tmp_path, corpus, kind):
    archive = tmp_path / f"images.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(archive, "w") as bundle:
            bundle.writestr("a.png", png_bytes())
    else:
        with tarfile.open(archive, "w") as bundle:
            data = png_bytes()
            info = tarfile.TarInfo("a.png")
            info.size = len(data)
            bundle.addfile(info, io.BytesIO(data))
    source = write_json(tmp_path / "c.json", [record("1")])
    assert corpus_import(corpus=corpus, source=source, images=archive).created == 1


def test_images_from_http_url(tmp_path, corpus, http_images):
    source = write_json(tmp_path / "c.json", [record("1", image=f"{http_images}/a.png")])
    report = corpus_import(corpus=corpus, source=source)
    assert report.images_stored == 1
    assert Item.objects.get().image.format == "PNG"


@pytest.fixture
def http_images(tmp_path, settings):
    import functools
    import http.server
    import threading

    folder = write_images(tmp_path / "served", {"a.png": (1, 2, 3)})
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    # Loopback is not fetched from unless the allow-list says so.
    settings.ARBITER_IMAGE_URL_ALLOW = ["127.0.0.1"]
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


# --- bad input: clear errors, nothing written ---------------------------------------------------


def _assert_nothing_written(corpus: Corpus) -> None:
    assert not Item.objects.filter(corpus=corpus).exists()
    assert not CorpusImage.objects.filter(corpus=corpus).exists()
    corpus.refresh_from_db()
    assert corpus.version == 0


def test_invalid_json_reports_line_and_column(tmp_path, corpus, images):
    source = tmp_path / "broken.json"
    source.write_text('[\n {"id": "1", "image": "a.png",\n  "conversations": [}\n]')
    with pytest.raises(ImportFailed) as exc:
        corpus_import(corpus=corpus, source=source, images=images)
    (problem,) = _problems(exc)
    assert problem["code"] == "invalid_json" and problem["line"] == 3 and problem["column"] == 21
    _assert_nothing_written(corpus)


def test_invalid_jsonl_line_reported(tmp_path, corpus, images):
    source = tmp_path / "broken.jsonl"
    source.write_text(json.dumps(record("1")) + "\n" + '{"id": "2", oops}\n')
    with pytest.raises(ImportFailed) as exc:
        corpus_import(corpus=corpus, source=source, images=images)
    assert _problems(exc)[0]["line"] == 2
    _assert_nothing_written(corpus)


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        # 200 KB of brackets once took the parse process to 20 GB.
        ("deep.json", "[" + "[" * 100_000 + "]" * 100_000 + "]", (1, 65)),
        (
            "deep.jsonl",
            json.dumps(record("1", None))
            + '\n{"id": "2", "x": '
            + ("[" * 100_000 + "]" * 100_000 + "}"),
            (2, 81),
        ),
    ],
)
def test_json_nested_100000_deep_is_refused_at_once_with_where(tmp_path, corpus, name, text, where):
    source = tmp_path / name
    source.write_text(text)
    started = time.monotonic()
    with pytest.raises(ImportFailed) as exc:
        corpus_import(corpus=corpus, source=source)
    assert time.monotonic() - started < 5
    (problem,) = _problems(exc)
    assert problem["code"] == "too_deeply_nested"
    assert (problem["line"], problem["column"]) == where
    assert "deeper than 64 levels" in problem["message"]
    _assert_nothing_written(corpus)


def test_nesting_limit_is_a_setting(tmp_path, corpus, images, settings):
    rec = record("1")
    rec["note"] = [[["deep"]]]
    source = write_json(tmp_path / "c.json", [rec])
    settings.ARBITER_IMPORT_MAX_DEPTH = 4
    with pytest.raises(ImportFailed) as exc:
        corpus_import(corpus=corpus, source=source, images=images)
    assert _problems(exc)[0]["code"] == "too_deeply_nested"
    settings.ARBITER_IMPORT_MAX_DEPTH = 5
    assert corpus_import(corpus=corpus, source=source, images=images).created == 1


def test_schema_errors_name_item_and_field_and_nothing_is_kept(tmp_path, corpus, images):
    bad_turns = record("2")
    bad_turns["conversations"][1]["from"] = "human"
    no_image_token = record("3")
    no_image_token["conversations"][0]["value"] = "What?"
    bad_score = record("4")
    bad_score["conversations"][1] = {"from": "gpt", "value": ["a", "b"], "score": [0.5]}
    records = [record("1")] * 1 + [bad_turns, no_image_token, {"image": "a.png"}, bad_score]
    source = write_json(tmp_path / "c.json", records)
    with pytest.raises(ImportFailed) as exc:
        corpus_import(corpus=corpus, source=source, images=images)
    problems = _problems(exc)
    assert [(p["index"], p.get("item_id"), p["field"]) for p in problems] == [
        (1, "2", "conversations[1]"),
        (2, "3", "conversations"),
        (3, None, "id"),
        (4, "4", "conversations[1]"),
    ]
    assert "nothing was imported" in str(exc.value)
    _assert_nothing_written(corpus)


def test_duplicate_ids_in_one_file(tmp_path, corpus, images):
    source = write_json(tmp_path / "c.json", [record("1"), record("2"), record("1")])
    with pytest.raises(ImportFailed) as exc:
        corpus_import(corpus=corpus, source=source, images=images)
    (problem,) = _problems(exc)
    assert problem["code"] == "duplicate_id" and problem["index"] == 2
    assert "item #0" in problem["message"]
    _assert_nothing_written(corpus)


def test_missing_image_and_not_an_image(tmp_path, corpus, images):
    (images / "fake.png").write_text("this is not a png")
    source = write_json(
        tmp_path / "c.json", [record("1"), record("2", "nope.png"), record("3", "fake.png")]
    )
    with pytest.raises(ImportFailed) as exc:
        corpus_import(corpus=corpus, source=source, images=images)
    codes = [(p["code"], p["item_id"]) for p in _problems(exc)]
    assert codes == [("missing_image", "2"), ("invalid_image", "3")]
    _assert_nothing_written(corpus)
    assert ImageAsset.objects.count() == 0
    media = Path(corpus_import.__globals__["settings"].MEDIA_ROOT)
    assert not list(media.rglob("*.png")), "files of a failed import are removed"


def test_decompression_bomb_and_limits(tmp_path, corpus, settings):
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.new("L", (4000, 4000)).save(folder / "bomb.png", optimize=True)
    settings.ARBITER_IMAGE_MAX_PIXELS = 1_000_000
    source = write_json(tmp_path / "c.json", [record("1", "bomb.png")])
    with pytest.raises(ImportFailed) as exc:
        corpus_import(corpus=corpus, source=source, images=folder)
    assert "bomb" in _problems(exc)[0]["message"] or "pixels" in _problems(exc)[0]["message"]
    settings.ARBITER_IMAGE_MAX_PIXELS = 64_000_000
    settings.ARBITER_IMAGE_MAX_BYTES = 100
    with pytest.raises(ImportFailed) as exc:
        corpus_import(corpus=corpus, source=source, images=folder)
    assert "over the limit" in _problems(exc)[0]["message"]
    _assert_nothing_written(corpus)


@pytest.mark.parametrize("entry", ["../evil.png", "/abs/evil.png"])
def test_archive_entries_escaping_the_folder_are_refused(tmp_path, corpus, entry):
    archive = tmp_path / "images.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("a.png", png_bytes())
        bundle.writestr(entry, png_bytes())
    source = write_json(tmp_path / "c.json", [record("1")])
    with pytest.raises(ImportFailed) as exc:
        corpus_import(corpus=corpus, source=source, images=archive)
    assert "outside the target folder" in _problems(exc)[0]["message"]
    assert not (tmp_path / "evil.png").exists()
    _assert_nothing_written(corpus)


def test_tar_symlink_entries_are_refused(tmp_path, corpus):
    archive = tmp_path / "images.tar"
    with tarfile.open(archive, "w") as bundle:
        link = tarfile.TarInfo("a.png")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        bundle.addfile(link)
    source = write_json(tmp_path / "c.json", [record("1")])
    with pytest.raises(ImportFailed) as exc:
        corpus_import(corpus=corpus, source=source, images=archive)
    assert "link" in _problems(exc)[0]["message"]


def test_image_path_escaping_the_folder_is_refused(tmp_path, corpus, images):
    source = write_json(tmp_path / "c.json", [record("1", "../../etc/passwd")])
    with pytest.raises(ImportFailed) as exc:
        corpus_import(corpus=corpus, source=source, images=images)
    assert _problems(exc)[0]["field"] == "image"


def test_empty_and_non_json_files(tmp_path, corpus):
    empty = tmp_path / "empty.json"
    empty.write_text("")
    with pytest.raises(ImportFailed, match="empty"):
        corpus_import(corpus=corpus, source=empty)
    text = tmp_path / "notes.json"
    text.write_text("hello")
    with pytest.raises(ImportFailed, match="JSON"):
        corpus_import(corpus=corpus, source=text)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (lambda r: r["conversations"][1].update(value="a\x00b"), None, "NUL character"),
        (lambda r: r["conversations"][1].update(value="a\ud800b"), None, "lone surrogate"),
        (lambda r: r.update(image="x" * 1100 + ".png"), "image", "longer than 1024"),
    ],
)
def test_text_no_database_can_store_is_refused_per_record(change, field, message) -> None:
    from corpora.pipeline.records import RecordError, parse_record

    bad = record("r1")
    change(bad)
    with pytest.raises(RecordError, match=message) as exc:
        parse_record(bad)
    assert exc.value.field == field
    parse_record(record("r1"))  # the same record without the change is fine
