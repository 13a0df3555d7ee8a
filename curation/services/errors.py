"""Domain errors of reward models and curation; the API maps them to the shared error shape."""

from __future__ import annotations

from typing import Any


class CurationError(Exception):
    def __init__(self, code: str, message: str, *, status: int = 400, details: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.details = details or {}

    def as_error(self) -> dict[str, Any]:
        """The job error payload (job_run uses it when a job body raises this)."""
        return {"code": self.code, "message": self.message, "details": self.details}
