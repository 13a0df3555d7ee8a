"""python manage.py serve: run Arbiter on one machine — web server and a Celery worker.

On the embedded default (SQLite database, SQLite broker) this needs no external service. On
first run it loads the demo corpus and creates demo users.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from workers.queues import worker_argv

GUNICORN_CONF = settings.BASE_DIR / "webapp" / "gunicorn_conf.py"


class Command(BaseCommand):
    help = "Start the web server and a Celery worker; set up the demo on first run."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("ARBITER_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("ARBITER_PORT", "8000")))
        parser.add_argument("--no-demo", action="store_true", help="do not load demo data")
        parser.add_argument(
            "--web-workers", type=int, help="gunicorn processes (default: webapp/gunicorn_conf.py)"
        )

    def handle(self, *args, **options) -> None:
        settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
        self.stdout.write(f"Preparing the database in {settings.VAR_DIR} (migrations)")
        call_command("migrate", interactive=False, verbosity=0)
        if not options["no_demo"]:
            self.stdout.write("Setting up the demo (users, corpus, projects) where missing")
            call_command("demo_setup")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        worker = subprocess.Popen(
            worker_argv(hostname="embedded@%h", loglevel="WARNING"),
            env=env,
        )
        bind = f"{options['host']}:{options['port']}"
        # The production settings (the ones the queue benchmark measures), plus an access log.
        argv = [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF), "webapp.wsgi"]
        argv += ["--bind", bind, "--access-logfile", "-"]
        if options["web_workers"]:
            argv += ["--workers", str(options["web_workers"])]
        web = subprocess.Popen(argv, env=env)
        url = f"http://{options['host']}:{options['port']}/"
        self.stdout.write(self.style.SUCCESS(f"\nArbiter is running at {url}"))
        self.stdout.write(f"  API docs: {url}api/docs/   health: {url}healthz")
        if not options["no_demo"]:
            from demo.setup import DEMO_USERS

            self.stdout.write("  Log in as:")
            for user in DEMO_USERS:
                self.stdout.write(
                    f"    {user.username:<12} password {user.password:<16} ({user.role})"
                )
        self.stdout.write("  Press Ctrl+C to stop.\n")
        self._wait(worker, web)

    def _wait(self, *processes: subprocess.Popen) -> None:
        stopping = False

        def stop(*_args) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            while not stopping and all(process.poll() is None for process in processes):
                time.sleep(0.5)
        finally:
            for process in processes:
                if process.poll() is None:
                    process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
