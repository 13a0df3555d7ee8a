"""Refuse JSON nested deeper than a limit before any parser builds it.

A parser's memory can grow with the square of the nesting depth (ijson's C backend keeps a
prefix string per level: 200 KB of `[` took 20 GB), so depth is checked on the raw bytes, as they
stream past, before the parser sees them. The scan skips string contents with possessive regular
expressions (C speed, no backtracking); only brackets are walked in Python.
"""

from __future__ import annotations

import re

from corpora.pipeline.problems import ImportFailed, Problem

DEFAULT_MAX_DEPTH = 64

# The inside of a string, up to its closing quote or a backslash that ends the chunk.
_STRING_REST = re.compile(rb'(?:[^"\\]++|\\.)*+', re.DOTALL)
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
# A whole string, a bracket, or a quote that opens a string going on in the next chunk.
_TOKEN = re.compile(rb'"(?:[^"\\]++|\\.)*+"|[\[\]{}]|"', re.DOTALL)
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
_OPENS = frozenset(b"[{")


class NestingGuard:
    """Fed the bytes of a JSON text in order; raises ImportFailed at the first level too deep."""

    def __init__(self, max_depth: int, *, first_line: int = 1) -> None:
        self.max_depth = max_depth
        self.depth = 0
        self._in_string = False
        self._escape = False  # a string's backslash ended the previous chunk
        self._offset = 0  # bytes fed so far
        self._line = first_line
        self._line_start = 0  # offset of the current line's first byte

    def feed(self, data: bytes) -> None:
        if not data:
            return
        start = self._leave_string(data)
        if start is not None:
            # Deleting every whole string leaves brackets outside strings, and from the first
            # quote left on, the start of a string that goes on in the next chunk.
            outside = _STRING.sub(b"", data[start:] if start else data)
            quote = outside.find(b'"')
            if quote >= 0:
                outside = outside[:quote]
                self._in_string = True
                backslashes = len(data) - len(data.rstrip(b"\\"))
                self._escape = backslashes % 2 == 1
            self._check(outside.translate(None, _NOT_BRACKETS), data, start)
        self._count_lines(data)

    def _leave_string(self, data: bytes) -> int | None:
        """Where text outside strings starts in `data`, or None if all of it is in a string."""
        if not self._in_string:
            return 0
        pos = 1 if self._escape else 0
        self._escape = False
        end = _STRING_REST.match(data, pos).end()
        if end >= len(data):
            return None
        if data[end] != ord('"'):  # a lone backslash at the very end
            self._escape = True
            return None
        self._in_string = False
        return end + 1

    def _check(self, brackets: bytes, data: bytes, start: int) -> None:
        opens = brackets.count(b"[") + brackets.count(b"{")
        if self.depth + opens > self.max_depth and not self._shallow(brackets):
            self._refuse(data, start)
        self.depth += 2 * opens - len(brackets)

    def _shallow(self, brackets: bytes) -> bool:
        """Whether the chunk surely stays within the limit, found without a loop per bracket.

        Each pass deletes the innermost pairs (at most two levels: `[]`, then `{}`), in C. What
        is left cannot be paired inside the chunk: closes, then opens. No bracket lies deeper
        than the depth at the start, plus those opens, plus two levels per pass.
        """
        passes = 0
        while passes * 2 <= self.max_depth:
            shorter = brackets.replace(b"[]", b"").replace(b"{}", b"")
            if len(shorter) == len(brackets):
                unpaired_opens = shorter.count(b"[") + shorter.count(b"{")
                return self.depth + unpaired_opens + 2 * passes <= self.max_depth
            brackets = shorter
            passes += 1
        return False

    def _refuse(self, data: bytes, start: int) -> None:
        """Raise the problem at the first bracket too deep, or return if none is."""
        depth = self.depth
        for match in _TOKEN.finditer(data, start):
            token = match.group()
            if token == b'"':
                return
            if token[0] == ord('"'):
                continue
            depth += 1 if token[0] in _OPENS else -1
            if depth > self.max_depth:
                at = match.start()
                line = self._line + data.count(b"\n", 0, at)
                last_newline = data.rfind(b"\n", 0, at)
                column = (
                    at - last_newline
                    if last_newline >= 0
                    else self._offset + at - self._line_start + 1
                )
                raise ImportFailed(
                    [
                        Problem(
                            "too_deeply_nested",
                            f"JSON is nested deeper than {self.max_depth} levels",
                            line=line,
                            column=column,
                        )
                    ]
                )

    def _count_lines(self, data: bytes) -> None:
        newlines = data.count(b"\n")
        if newlines:
            self._line += newlines
            self._line_start = self._offset + data.rfind(b"\n") + 1
        self._offset += len(data)


def check_line_depth(line: bytes, *, max_depth: int, line_number: int) -> None:
    """Check one JSON Lines record; counting brackets first skips the scan for nearly all."""
    if line.count(b"[") + line.count(b"{") > max_depth:
        NestingGuard(max_depth, first_line=line_number).feed(line)
