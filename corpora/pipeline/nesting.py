"""Refuse JSON nested deeper than a limit before any parser builds it.

A parser's memory can grow with the square of the nesting depth (ijson's C backend keeps a
prefix string per level: 200 KB of `[` took 20 GB), so depth is checked on the raw bytes, as they
stream past, before the parser sees them.

The scan is bytes operations in C: drop escaped backslashes and escaped quotes, keep only quotes
and brackets, split on quotes (now strictly alternating outside and inside strings), and keep the
brackets outside strings. Only a chunk that may be too deep is walked bracket by bracket.
"""

from __future__ import annotations

import re

from corpora.pipeline.problems import ImportFailed, Problem

DEFAULT_MAX_DEPTH = 64

_NOT_STRUCTURE = bytes(set(range(256)) - set(b'"[]{}'))
_OPENS = frozenset(b"[{")
# Error path only: the inside of a string up to its closing quote; a whole string, a bracket,
# or a quote that opens a string going on in the next chunk.
_STRING_REST = re.compile(rb'(?:[^"\\]++|\\.)*+', re.DOTALL)
_TOKEN = re.compile(rb'"(?:[^"\\]++|\\.)*+"|[\[\]{}]|"', re.DOTALL)


class NestingGuard:
    """Fed the bytes of a JSON text in order; raises ImportFailed at the first level too deep."""

    def __init__(self, max_depth: int, *, first_line: int = 1) -> None:
        self.max_depth = max_depth
        self.depth = 0
        self._in_string = False
        # A backslash that ended the previous chunk unpaired: it escapes the next chunk's first
        # byte, so it is read again with it.
        self._carry = b""
        self._offset = 0  # bytes fed so far
        self._line = first_line
        self._line_start = 0  # offset of the current line's first byte

    def feed(self, data: bytes) -> None:
        if not data:
            return
        text = self._carry + data
        body = text.rstrip(b"\\")
        base = self._offset - len(self._carry)  # where `body` starts in the whole input
        # Pairs need not be kept: only whether one backslash is left over.
        self._carry = b"\\" if (len(text) - len(body)) % 2 else b""
        # In a run of backslashes, pairs from the left are escaped backslashes; a backslash
        # left before a quote escapes it. What remains are the quotes that open or close
        # strings, so they alternate.
        structure = body.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_STRUCTURE)
        parts = structure.split(b'"')
        started_in_string = self._in_string
        outside = b"".join(parts[1::2] if started_in_string else parts[0::2])
        if len(parts) % 2 == 0:
            self._in_string = not self._in_string
        opens = outside.count(b"[") + outside.count(b"{")
        if self.depth + opens > self.max_depth and not self._shallow(outside):
            self._refuse(body, base, started_in_string)
        self.depth += 2 * opens - len(outside)
        self._count_lines(data)

    def _shallow(self, brackets: bytes) -> bool:
        """Whether the chunk surely stays within the limit, found without a loop per bracket.

        Each pass deletes the innermost pairs (at most two levels: `[]`, then `{}`), in C. What
        is left cannot be paired inside the chunk. No bracket lies deeper than the depth at the
        start, plus the opens left, plus two levels per pass.
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

    def _refuse(self, body: bytes, base: int, started_in_string: bool) -> None:
        """Raise the problem at the first bracket too deep, or return if none is."""
        start = 0
        if started_in_string:
            start = _STRING_REST.match(body).end() + 1  # past the closing quote
        depth = self.depth
        for match in _TOKEN.finditer(body, start):
            token = match.group()
            if token == b'"':
                return
            if token[0] == ord('"'):
                continue
            depth += 1 if token[0] in _OPENS else -1
            if depth > self.max_depth:
                at = match.start()
                last_newline = body.rfind(b"\n", 0, at)
                column = (
                    at - last_newline if last_newline >= 0 else base + at - self._line_start + 1
                )
                raise ImportFailed(
                    [
                        Problem(
                            "too_deeply_nested",
                            f"JSON is nested deeper than {self.max_depth} levels",
                            line=self._line + body.count(b"\n", 0, at),
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
