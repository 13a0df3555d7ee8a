"""The Celery application. Workers start with `celery -A webapp worker -Q cpu` (or `-Q gpu`)."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

app = Celery("arbiter")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Every task module is listed, so a worker knows all tasks no matter which process sent them.
app.conf.imports = (
    "workers.tasks",
    "workers.reward_tasks",
    "workers.curation_tasks",
    "workers.webhook_tasks",
    "workers.rewrite_tasks",
    "workers.judge_tasks",
)


def _install_heartbeat() -> None:
    from workers.heartbeat import HeartbeatStep

    app.steps["consumer"].add(HeartbeatStep)


_install_heartbeat()
