"""The nesting guard: exact on any split of the bytes, blind to brackets inside strings."""

from __future__ import annotations

import json
import random

import pytest

from corpora.pipeline.nesting import NestingGuard, check_line_depth
from corpora.pipeline.problems import ImportFailed

TRICKY = ["[", "]", "{", "}", '"', "\\", '\\"', "[[[", "]]}", "ü", "\n", "\\\\", "\\\\\\"]


def _value(rng: random.Random, depth: int) -> object:
    if depth <= 0 or rng.random() < 0.25:
        return "".join(rng.choice(TRICKY) for _ in range(rng.randint(0, 6)))
    if rng.random() < 0.5:
        return [_value(rng, depth - 1) for _ in range(rng.randint(0, 3))]
    return {f"k{i}{rng.choice(TRICKY)}": _value(rng, depth - 1) for i in range(rng.randint(0, 3))}


def _depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


def _refused(data: bytes, limit: int, cuts: list[int]) -> bool:
    guard = NestingGuard(limit)
    bounds = [0, *sorted(cuts), len(data)]
    try:
        for start, end in zip(bounds, bounds[1:], strict=False):
            guard.feed(data[start:end])
    except ImportFailed:
        return True
    return False


def test_guard_matches_the_real_depth_whatever_the_chunking():
    rng = random.Random(7)
    for _ in range(2000):
        value = _value(rng, rng.randint(1, 9))
        data = json.dumps(value, indent=rng.choice([None, 1])).encode()
        limit = rng.randint(1, 8)
        cuts = [rng.randint(0, len(data)) for _ in range(rng.randint(0, 6))]
        assert _refused(data, limit, cuts) == (_depth(value) > limit), (data, limit, cuts)


def test_guard_fed_one_byte_at_a_time():
    rng = random.Random(11)
    for _ in range(200):
        value = _value(rng, rng.randint(1, 7))
        data = json.dumps(value).encode()
        limit = rng.randint(1, 6)
        assert _refused(data, limit, list(range(len(data)))) == (_depth(value) > limit), data


def test_every_single_byte_split_of_escapes_and_quotes():
    data = json.dumps({"a": 'x\\"[[[[[\\\\', "b": [[["]"]]]}).encode()
    for cut in range(len(data) + 1):
        assert not _refused(data, 4, [cut])
        assert _refused(data, 3, [cut])


def test_the_problem_names_line_and_column_of_the_first_bracket_too_deep():
    data = b'[\n {"id": "1",\n  "y": ' + b"[" * 10 + b"]" * 10 + b"}]"
    with pytest.raises(ImportFailed) as exc:
        NestingGuard(5).feed(data)
    (problem,) = exc.value.problems
    assert (problem.code, problem.line, problem.column) == ("too_deeply_nested", 3, 11)


def test_line_and_column_across_chunks():
    guard = NestingGuard(2, first_line=1)
    guard.feed(b'[\n  "a",\n  [')
    with pytest.raises(ImportFailed) as exc:
        guard.feed(b"1, [2]]]")
    (problem,) = exc.value.problems
    assert (problem.line, problem.column) == (3, 7)


def test_jsonl_lines_with_few_brackets_are_not_scanned_and_deep_ones_are_refused():
    check_line_depth(b'{"a": "[[[[[[[[[["}', max_depth=3, line_number=1)  # brackets in a string
    with pytest.raises(ImportFailed) as exc:
        check_line_depth(b'{"a": [[[1]]]}', max_depth=3, line_number=9)
    assert (exc.value.problems[0].line, exc.value.problems[0].column) == (9, 9)
