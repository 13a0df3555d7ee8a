"""Schema-driven fuzzing of the whole API against a live server: no 5xx, no off-schema answer.

The server is a real gunicorn process on its own PostgreSQL database and its own Redis broker
database (flushed afterwards), so queued jobs never reach the test suite's worker.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection

pytestmark = [pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
FUZZ_SECONDS = int(os.environ.get("ARBITER_FUZZ_SECONDS", "40"))
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    ]
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def fuzz_server(django_db_setup, django_db_blocker, tmp_path_factory):
    if connection.vendor != "postgresql":
        pytest.fail("the fuzz run needs PostgreSQL: run it with `make test-integration`")
    db = connection.settings_dict
    name = f"arbiter_fuzz_{uuid.uuid4().hex[:8]}"
    admin_dsn = f"host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} user={db['USER']}"
    with psycopg.connect(admin_dsn + " dbname=postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    broker = settings.CELERY_BROKER_URL.rsplit("/", 1)[0] + "/14"
    var = tmp_path_factory.mktemp("fuzz-var")
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{name}",
        "CELERY_BROKER_URL": broker,
        "ARBITER_VAR_DIR": str(var),
        "ARBITER_WEB_WORKERS": "2",
        "ARBITER_WEB_THREADS": "4",
        "PYTHONPATH": str(ROOT),
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], env=env, cwd=ROOT, check=True)
    seeded = subprocess.run(
        [sys.executable, "tests/integration/api_fuzz_seed.py"],
        env={**env, "DJANGO_SETTINGS_MODULE": "webapp.settings"},
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    tokens = json.loads(seeded.stdout.strip().splitlines()[-1])
    port = _free_port()
    log = (var / "server.log").open("w")
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", "webapp/gunicorn_conf.py", "--bind", f"127.0.0.1:{port}"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url + "/healthz", timeout=2)
            break
        except urllib.error.HTTPError:
            break  # it answers (503: no worker runs for this server, which is expected)
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise RuntimeError((var / "server.log").read_text()[-3000:]) from None
            time.sleep(0.5)
    yield {"url": url, "tokens": tokens, "log": var / "server.log", "var": var}
    server.terminate()
    server.wait(timeout=30)
    log.close()
    import redis

    redis.Redis.from_url(broker).flushdb()
    with psycopg.connect(admin_dsn + " dbname=postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.parametrize("role", ["owner", "annotator"])
def test_fuzzed_api_has_no_server_error_and_keeps_its_schema(fuzz_server, role):
    report = fuzz_server["var"] / f"report-{role}.json"
    result = subprocess.run(
        [
            str(BIN / "st"),
            "run",
            f"{fuzz_server['url']}/api/schema/",
            "--header",
            f"Authorization: Token {fuzz_server['tokens'][role]}",
            "--checks",
            CHECKS,
            "--max-time",
            str(FUZZ_SECONDS),
            "--max-examples",
            "25",
            "--seed",
            "20261201",
            "--workers",
            "2",
            "--request-timeout",
            "20",
            "--generation-allow-x00",
            "false",
            # Fuzzing the token endpoint's POST is brute force (and throttled); its DELETE and
            # the revoke by id would revoke the fuzzer's own tokens (tests/core/test_tokens.py).
            "--exclude-path",
            "/api/v1/auth/token/",
            "--exclude-path",
            "/api/v1/auth/tokens/{token_id}/",
            "--no-color",
            "--report",
            "json",
            "--report-json-path",
            str(report),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=FUZZ_SECONDS * 4 + 120,
    )
    log = fuzz_server["log"].read_text()
    tracebacks = log[log.find("Traceback") :][:6000] if "Traceback" in log else ""
    assert result.returncode == 0, result.stdout[-12000:] + "\nserver errors:\n" + tracebacks
