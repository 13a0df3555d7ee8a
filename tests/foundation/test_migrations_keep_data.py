"""Moving models into core and corpora keeps every row (SQLite here; PostgreSQL in integration)."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from tests.foundation.wave1_migration import assert_wave1_data_survives_the_move


@pytest.mark.django_db(transaction=True)
def test_wave1_data_is_readable_through_the_moved_models():
    assert_wave1_data_survives_the_move()


@pytest.mark.django_db
def test_models_and_migrations_agree(capsys):
    call_command("makemigrations", "--check", "--dry-run")
    assert "No changes detected" in capsys.readouterr().out
