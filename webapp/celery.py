"""The Celery application. Workers start with `celery -A webapp worker -Q cpu` (or `-Q gpu`)."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

app = Celery("arbiter")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["workers"])


def _install_heartbeat() -> None:
    from workers.heartbeat import HeartbeatStep

    app.steps["consumer"].add(HeartbeatStep)


_install_heartbeat()
