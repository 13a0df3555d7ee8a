"""Shared fixtures. Unit tests run on SQLite; tests marked `integration` or `browser` run in a
second pass against the real PostgreSQL, Redis and a Celery worker process (see Makefile)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_storage(settings, tmp_path_factory):  # noqa: ANN001
    """Every test writes media, artifacts and cache below its own temporary folder."""
    root = tmp_path_factory.mktemp("var")
    settings.MEDIA_ROOT = root / "media"
    settings.ARTIFACTS_ROOT = root / "artifacts"
    yield
