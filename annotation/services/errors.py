"""Domain errors of the annotation engine; the API turns them into its one error shape."""

from __future__ import annotations

from typing import Any


class EngineError(Exception):
    """`code` is stable and machine-readable; `status` is the HTTP status the API answers with."""

    def __init__(self, code: str, message: str, *, status: int = 400, details: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.details = details
