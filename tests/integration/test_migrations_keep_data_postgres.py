"""Moving models into core and corpora keeps every row on PostgreSQL (sequences, FK constraints)."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.foundation.wave1_migration import assert_wave1_data_survives_the_move

pytestmark = pytest.mark.integration


@pytest.mark.django_db(transaction=True)
def test_wave1_data_is_readable_through_the_moved_models_on_postgres():
    if connection.vendor != "postgresql":
        pytest.fail("needs PostgreSQL: run it with make test-integration")
    assert_wave1_data_survives_the_move()
