"""GET /healthz: is the database up, is the broker reachable, is any worker alive?

Users of other tools lose hours to imports that hang because no worker runs; this endpoint (and
the header of every page) says so plainly.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse

from workers.heartbeat import workers_alive


def _check_database() -> dict:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # reported, not raised
        return {"ok": False, "error": str(exc)}
    return {
        "ok": True,
        "vendor": connection.vendor,
        "ms": round(1000 * (time.perf_counter() - started), 1),
    }


def _check_broker() -> dict:
    from webapp.celery import app

    url = settings.CELERY_BROKER_URL
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        return {"ok": False, "transport": url.split("://", 1)[0], "error": str(exc)}
    return {"ok": True, "transport": url.split("://", 1)[0]}


def health_status() -> dict:
    database = _check_database()
    broker = _check_broker()
    try:
        workers = workers_alive() if database["ok"] else []
    except Exception:  # tables may be missing before migrate
        workers = []
    queues = sorted({queue for worker in workers for queue in worker["queues"]})
    status = {
        "database": database,
        "broker": broker,
        "workers": {"ok": bool(workers), "alive": workers, "queues": queues},
    }
    status["ok"] = database["ok"] and broker["ok"] and bool(workers)
    return status


def healthz(request: HttpRequest) -> JsonResponse:
    status = health_status()
    return JsonResponse(status, status=200 if status["ok"] else 503)
