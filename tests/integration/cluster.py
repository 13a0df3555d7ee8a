"""Worker processes a test owns and may `kill -9`, on a broker of their own.

The session's shared worker (`celery_worker_process`) listens on the suite's broker and must
not take these tests' tasks, nor be killed: these workers use a second Redis database
(ARBITER_FAULT_BROKER_URL, by default the suite's Redis with the next database number), and
`broker_swapped` points this test process's Celery app and cache at it while a test runs.
Each worker runs in its own session (process group), so `kill` takes the main process and its
pool children at once, as when a machine or container dies.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from django.conf import settings

# Quick liveness for the tests: a job beats every second and is dead after 8 silent seconds
# (the defaults, 5 and 30, resolve within a minute; the tests only wait less).
JOB_HEARTBEAT_S = "1"
JOB_STALE_S = "8"


def fault_broker_url() -> str:
    explicit = os.environ.get("ARBITER_FAULT_BROKER_URL")
    if explicit:
        return explicit
    suite = settings.CELERY_BROKER_URL
    match = re.match(r"^(rediss?://[^/]+)/(\d+)$", suite)
    if not match:
        raise RuntimeError("the fault suite needs a Redis broker (make test-integration)")
    return f"{match.group(1)}/{(int(match.group(2)) + 1) % 16}"


def database_url(host: str = "127.0.0.1", application_name: str = "") -> str:
    from django.db import connection

    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{host}:{db['PORT'] or 5432}/{db['NAME']}"
    return url + (f"?application_name={application_name}" if application_name else "")


def fault_cache(broker: str) -> dict:
    """The CACHES setting that shares progress and cancel flags with the fault workers."""
    return {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": broker}
    }


@contextmanager
def broker_swapped(broker: str) -> Iterator[None]:
    """This process sends tasks to, and keeps chord results in, the fault broker."""
    import redis

    from webapp.celery import app

    redis.Redis.from_url(broker).flushdb()
    saved = (app.conf.broker_write_url, app.conf.result_backend)

    def point_at(broker_url: str, backend: str) -> None:
        # The write URL: CELERY_BROKER_URL in the environment outranks `broker_url` in conf.
        app.conf.broker_write_url = broker_url
        app.conf.result_backend = backend
        # kombu keeps one pool per broker URL for the process: forget ours, close none
        app._pool = None
        app.amqp._producer_pool = None
        app._backend_cache = None
        app._local.__dict__.pop("backend", None)

    point_at(broker, broker)
    try:
        yield
    finally:
        point_at(*saved)
        redis.Redis.from_url(broker).flushdb()


@dataclass
class Worker:
    name: str
    hostname: str
    process: subprocess.Popen
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def shards_scored(self) -> set[int]:
        """Shards this worker finished (Celery logs each task's return value)."""
        found = re.findall(
            r"arbiter\.scoring_shard\[[^\]]+\] succeeded in [^:]+: \{'shard': (\d+), 'items'",
            self.log_text(),
        )
        return {int(index) for index in found}

    def kill(self) -> None:
        """kill -9 of the whole worker: main process and pool children."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


@dataclass
class Cluster:
    """Celery workers on the fault broker, sharing media and artifacts with this process."""

    root: Path
    broker: str
    workers: list[Worker] = field(default_factory=list)

    @property
    def media_root(self) -> Path:
        return self.root / "media"

    @property
    def artifacts_root(self) -> Path:
        return self.root / "artifacts"

    def start(
        self,
        name: str,
        *,
        netns: str | None = None,
        host: str = "127.0.0.1",
        concurrency: int = 1,
    ) -> Worker:
        from workers.queues import worker_argv

        env = dict(os.environ)
        env.update(
            DATABASE_URL=database_url(host, application_name=f"arbiter-{name}"),
            CELERY_BROKER_URL=self.broker.replace("127.0.0.1", host),
            ARBITER_MEDIA_ROOT=str(self.media_root),
            ARBITER_ARTIFACTS_ROOT=str(self.artifacts_root),
            ARBITER_JOB_HEARTBEAT_S=JOB_HEARTBEAT_S,
            ARBITER_JOB_STALE_S=JOB_STALE_S,
            DATABASE_CONN_MAX_AGE="0",
        )
        env.pop("CELERY_RESULT_BACKEND", None)
        env.pop("REDIS_URL", None)
        hostname = f"{name}-{uuid.uuid4().hex[:6]}@{netns or 'localhost'}"
        argv = worker_argv(hostname=hostname, loglevel="INFO", concurrency=concurrency)
        if netns:
            argv = ["ip", "netns", "exec", netns, *argv]
        self.root.mkdir(parents=True, exist_ok=True)
        log = self.root / f"{name}-{len(self.workers)}.log"
        with log.open("w") as sink:
            process = subprocess.Popen(
                argv,
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                cwd=settings.BASE_DIR,
                start_new_session=True,
            )
        worker = Worker(name=name, hostname=hostname, process=process, log=log)
        self.workers.append(worker)
        self._wait_ready(worker)
        return worker

    def _wait_ready(self, worker: Worker) -> None:
        from workers.models import WorkerHeartbeat

        deadline = time.monotonic() + 120
        while not WorkerHeartbeat.objects.filter(hostname=worker.hostname).exists():
            if worker.process.poll() is not None or time.monotonic() > deadline:
                worker.kill()
                raise RuntimeError(
                    f"worker {worker.name} did not start:\n{worker.log_text()[-3000:]}"
                )
            time.sleep(0.3)

    def stop_all(self) -> None:
        for worker in self.workers:
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()


@contextmanager
def _held_transaction(sql: str, params: list, what: str) -> Iterator[threading.Event]:
    """Run `sql` in a transaction of our own connection and keep it open (rolled back at the
    end, or when the yielded event is set), so a worker that needs what it holds waits."""
    release = threading.Event()
    held = threading.Event()

    def hold() -> None:
        with psycopg.connect(_dsn()) as conn:
            conn.execute(sql, params)
            held.set()
            release.wait(300)
            conn.rollback()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert held.wait(30), f"could not hold {what}"
    try:
        yield release
    finally:
        release.set()
        thread.join(timeout=30)


@contextmanager
def row_locked(table: str, row_id: int) -> Iterator[threading.Event]:
    """Hold `SELECT ... FOR UPDATE` on one row from a connection of our own, so the worker that
    needs that row waits inside its transaction: a deterministic "mid-run" to kill it at.
    Set the yielded event to release the lock early."""
    with _held_transaction(
        f"SELECT 1 FROM {table} WHERE id = %s FOR UPDATE", [row_id], f"a lock on {table} {row_id}"
    ) as release:
        yield release


@contextmanager
def step_held(run_id: int, step: int) -> Iterator[threading.Event]:
    """Insert run ``run_id``'s learning-curve point ``step`` from a transaction of our own and
    keep it open: the worker that logs that step waits on it (a unique-index conflict with an
    uncommitted row), after the checkpoints of the steps before it are written. A
    deterministic "mid-training, past a checkpoint" to kill it at; the row is rolled back."""
    with _held_transaction(
        "INSERT INTO curation_rewardmodelstep (run_id, step, loss, val_accuracy) "
        "VALUES (%s, %s, 0, NULL)",
        [run_id, step],
        f"step {step} of run {run_id}",
    ) as release:
        yield release


def waiting_on_lock(application_prefix: str = "arbiter-") -> list[str]:
    """Application names of worker connections now waiting for a row lock."""
    with psycopg.connect(_dsn()) as conn:
        rows = conn.execute(
            "SELECT application_name FROM pg_stat_activity "
            "WHERE wait_event_type = 'Lock' AND application_name LIKE %s",
            [application_prefix + "%"],
        ).fetchall()
    return [name for (name,) in rows]


def wait_until(predicate, *, timeout: float, what: str, poll: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _dsn() -> str:
    from django.db import connection

    db = connection.settings_dict
    return (
        f"host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} user={db['USER']} "
        f"dbname={db['NAME']}"
    )
