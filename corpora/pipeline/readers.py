"""Stream records out of LLaVA JSON (one array) or JSONL files with flat memory."""

from __future__ import annotations

import json
import mmap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ijson

from corpora.pipeline.nesting import DEFAULT_MAX_DEPTH, NestingGuard, check_line_depth
from corpora.pipeline.problems import ImportFailed, Problem


@dataclass(frozen=True)
class RawRecord:
    index: int
    line: int | None
    value: Any


def detect_format(path: Path) -> str:
    """'json' for a top-level array, 'jsonl' for one record per line."""
    with path.open("rb") as handle:
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head:
        raise ImportFailed([Problem("empty_file", "The file is empty.", line=1, column=1)])
    if head.startswith(b"["):
        return "json"
    if head.startswith(b"{"):
        return "jsonl"
    raise ImportFailed(
        [
            Problem(
                "invalid_json",
                "Expected a JSON array of records ('[') or JSON Lines (one '{...}' per line).",
                line=1,
                column=1,
            )
        ]
    )


class RecordReader:
    """Iterates the records of a file and tells how far it has read (for progress)."""

    def __init__(self, path: Path, *, max_depth: int = DEFAULT_MAX_DEPTH) -> None:
        self.path = Path(path)
        self.max_depth = max_depth
        self.size = self.path.stat().st_size
        self.format = detect_format(self.path)
        self._handle: _CountingReader | None = None

    @property
    def bytes_read(self) -> int:
        return self._handle.count if self._handle else 0

    def __iter__(self) -> Iterator[RawRecord]:
        with self.path.open("rb") as raw:
            if self.format == "jsonl":
                self._handle = _CountingReader(raw)
                yield from _iter_jsonl(self._handle, self.max_depth)
            else:
                # Every byte passes the guard before ijson sees it.
                self._handle = _CountingReader(raw, guard=NestingGuard(self.max_depth))
                yield from _iter_json_array(self._handle, self.path)


class _CountingReader:
    def __init__(self, handle, guard: NestingGuard | None = None) -> None:  # any binary file object
        self._handle = handle
        self._guard = guard
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        if self._guard is not None:
            self._guard.feed(data)
        self.count += len(data)
        return data

    def __iter__(self) -> Iterator[bytes]:
        for line in self._handle:
            self.count += len(line)
            yield line


def _iter_jsonl(handle: _CountingReader, max_depth: int) -> Iterator[RawRecord]:
    index = 0
    for line_number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        check_line_depth(line, max_depth=max_depth, line_number=line_number)
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ImportFailed(
                [Problem("invalid_json", exc.msg, line=line_number, column=exc.colno)]
            ) from exc
        except UnicodeDecodeError as exc:
            raise ImportFailed(
                [Problem("invalid_encoding", f"Not UTF-8: {exc.reason}", line=line_number)]
            ) from exc
        yield RawRecord(index=index, line=line_number, value=value)
        index += 1


def _iter_json_array(handle: _CountingReader, path: Path) -> Iterator[RawRecord]:
    # ijson's C backend parses incrementally; line numbers are only needed when something is
    # wrong, so the exact position is recovered on the error path alone (see _locate_error).
    index = 0
    try:
        for value in ijson.items(handle, "item", use_float=True):
            yield RawRecord(index=index, line=None, value=value)
            index += 1
    except (ijson.JSONError, UnicodeDecodeError) as exc:
        raise ImportFailed([_locate_error(path, str(exc))]) from exc


def _locate_error(path: Path, fallback: str) -> Problem:
    """Find the line and column of a syntax error with the standard parser.

    Only runs on the error path; walks the array element by element so that only one element is
    held as Python objects at a time.
    """
    # Decoded straight from the mapped file: no copy of the bytes, so the text is the only
    # memory this costs (the parse process's memory cap counts data, not mapped files).
    try:
        with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as m:
            try:
                text = str(m, "utf-8-sig")
            except UnicodeDecodeError as exc:
                line = m[: exc.start].count(b"\n") + 1
                column = exc.start - (m.rfind(b"\n", 0, exc.start) + 1) + 1
                return Problem(
                    "invalid_encoding", f"Not UTF-8: {exc.reason}", line=line, column=column
                )
    except ValueError:
        return Problem("invalid_json", fallback)
    decoder = json.JSONDecoder()
    pos = _skip_ws(text, 0)
    index = 0
    try:
        if pos >= len(text) or text[pos] != "[":
            raise json.JSONDecodeError("Expecting '['", text, pos)
        pos = _skip_ws(text, pos + 1)
        if pos < len(text) and text[pos] == "]":
            pos = _skip_ws(text, pos + 1)
        else:
            while True:
                _, pos = decoder.raw_decode(text, pos)
                index += 1
                pos = _skip_ws(text, pos)
                if pos < len(text) and text[pos] == ",":
                    pos = _skip_ws(text, pos + 1)
                    continue
                if pos < len(text) and text[pos] == "]":
                    pos = _skip_ws(text, pos + 1)
                    break
                raise json.JSONDecodeError("Expecting ',' or ']' after a record", text, pos)
        if pos < len(text):
            raise json.JSONDecodeError("Extra data after the array", text, pos)
    except json.JSONDecodeError as exc:
        return Problem("invalid_json", exc.msg, line=exc.lineno, column=exc.colno, index=index)
    return Problem("invalid_json", fallback)


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos
