"""The one domain error of every app; the API and the job runner map it to the error shape."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """`code` is stable and machine-readable; `status` is the HTTP status the API answers with."""

    def __init__(self, code: str, message: str, *, status: int = 400, details: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.details = details or {}

    def as_error(self) -> dict[str, Any]:
        """The error payload: `{"code", "message", "details"}` (API bodies and failed jobs)."""
        return {"code": self.code, "message": self.message, "details": self.details}
