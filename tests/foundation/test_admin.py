"""Django admin: every model is registered and its list page renders for staff."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib import admin

from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db

OUR_APPS = {"core", "annotation", "curation", "workers"}


def _our_models():
    return [model for model in apps.get_models() if model._meta.app_label in OUR_APPS]


def test_every_model_is_in_the_admin():
    missing = [model.__name__ for model in _our_models() if model not in admin.site._registry]
    assert missing == []


def test_admin_list_pages_render(client):
    staff = StaffFactory(is_superuser=True)
    client.force_login(staff)
    for model in _our_models():
        url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        assert client.get(url).status_code == 200, url
