"""gunicorn settings for every way Arbiter's web process runs: docker-compose, `manage.py serve`
and the queue benchmark (bench/queue_load.py) all pass `-c webapp/gunicorn_conf.py`, so the
benchmark measures what production runs.

    gunicorn -c webapp/gunicorn_conf.py webapp.wsgi --bind 0.0.0.0:8000

ARBITER_WEB_WORKERS and ARBITER_WEB_THREADS size the pool for a bigger machine.
"""

from __future__ import annotations

import os

wsgi_app = "webapp.wsgi"
worker_class = "gthread"
workers = int(os.environ.get("ARBITER_WEB_WORKERS", "4"))
threads = int(os.environ.get("ARBITER_WEB_THREADS", "8"))
preload_app = True
keepalive = 5
loglevel = os.environ.get("ARBITER_WEB_LOGLEVEL", "warning")
