"""The parse process: capped memory, nesting refused before parsing, problems over the pipe."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from corpora.pipeline.parse_process import chunks_from_process
from corpora.pipeline.problems import ImportFailed
from tests.corpora.llava import record


def _parse(path: Path, **options: int) -> list:
    with chunks_from_process(path, default_category="c", size=100, **options) as chunks:
        return list(chunks)


def _large_but_valid(path: Path) -> Path:
    # Small records, then one whose answer alone is 16 MB: valid, and bigger than the cap below.
    records = [record(str(i), None) for i in range(300)]
    records.append(record("big", None, answer="x" * (16 * 1024 * 1024)))
    path.write_text(json.dumps(records))
    return path


def test_a_file_needing_more_memory_than_the_cap_fails_cleanly(tmp_path):
    source = _large_but_valid(tmp_path / "big.json")
    with pytest.raises(ImportFailed) as exc:
        _parse(source, memory_mb=40)
    (problem,) = exc.value.problems
    assert problem.code == "file_too_large_to_parse"
    assert "needs more than 40 MB to parse" in problem.message


def test_the_same_file_parses_under_the_default_cap(tmp_path):
    source = _large_but_valid(tmp_path / "big.json")
    chunks = _parse(source)
    assert sum(chunk.items_read for chunk in chunks) == 301
    assert not any(chunk.problems for chunk in chunks)


def test_deep_nesting_is_a_problem_from_the_process(tmp_path):
    source = tmp_path / "deep.json"
    source.write_text("[" * 100_001 + "]" * 100_001)
    started = time.monotonic()
    chunks = _parse(source, max_depth=64, memory_mb=256)
    assert time.monotonic() - started < 10
    (problem,) = chunks[-1].problems
    assert (problem.code, problem.line, problem.column) == ("too_deeply_nested", 1, 65)


def test_a_syntax_error_in_a_big_file_is_located_within_the_cap(tmp_path):
    # given: 20 MB of valid records, then a syntax error; locating it reads the whole file
    good = ",\n".join(json.dumps(record(str(i), None, answer="y" * 2000)) for i in range(10_000))
    source = tmp_path / "broken.json"
    source.write_text(f'[\n{good},\n{{"id": "x",, }}\n]')
    # when
    chunks = _parse(source, memory_mb=40)
    # then
    (problem,) = chunks[-1].problems
    assert (problem.code, problem.line, problem.column) == ("invalid_json", 10_002, 12)
