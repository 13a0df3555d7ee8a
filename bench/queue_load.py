"""Queue load test against the production set-up: PostgreSQL + gunicorn on 127.0.0.1.

Creates a project of `--items` items (default 1,000,000) with bulk SQL, starts gunicorn from
this script, and runs phases of N client threads doing next -> submit loops with token auth:
32 clients pausing ~1 s per item (p50/p99 latency of next and submit), then 8 and 32 clients
with no pause (throughput). A share of submits is retried with the same client_key. Finally
it checks that no annotation was lost or duplicated. Prints one JSON line.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/arbiter_bench \\
        .venv/bin/python bench/queue_load.py [--items 1000000] [--seconds 60]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/arbiter_bench"


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)


def _ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def _setup(items: int, clients: int, overlap: int) -> tuple[int, list[str]]:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from rest_framework.authtoken.models import Token

    from annotation.models import Corpus, Project
    from annotation.services.projects import member_set, project_create

    call_command("migrate", verbosity=0)
    Project.objects.filter(name="queue-load").delete()
    Corpus.objects.filter(name="queue-load").delete()
    corpus = Corpus.objects.create(name="queue-load")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        # One INSERT ... SELECT over generate_series: a million rows in seconds, not hours.
        cursor.execute(
            "INSERT INTO annotation_item (corpus_id, external_id, image_path, conversations, "
            "category, extra, has_candidates, content_hash, created_at, updated_at) "
            "SELECT %s, 'q' || g, '', jsonb_build_array("
            "jsonb_build_object('from', 'human', 'value', '<image>\\nWhat is shown in ' || g),"
            "jsonb_build_object('from', 'gpt', 'value', 'An answer about image ' || g)), "
            "'conversation', '{}'::jsonb, FALSE, md5(g::text), now(), now() "
            "FROM generate_series(1, %s) g",
            [corpus.pk, items],
        )
    from django.contrib.auth import get_user_model

    User = get_user_model()
    owner, _ = User.objects.get_or_create(username="queue-load-owner", defaults={"is_staff": True})
    project = project_create(
        name="queue-load",
        corpora=[corpus],
        created_by=owner,
        overlap=overlap,
        questions=[
            {"key": "faithful", "type": "binary", "prompt": "Faithful?"},
            {
                "key": "helpfulness",
                "type": "rating",
                "prompt": "Helpful?",
                "labels": [{"value": v, "label": str(v)} for v in range(1, 6)],
            },
        ],
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE annotation_item; ANALYZE annotation_projectitem;")
    setup_s = time.perf_counter() - started
    tokens = []
    for i in range(clients):
        user, _ = User.objects.get_or_create(username=f"queue-load-{i}")
        member_set(project=project, user_id=user.pk, role="annotator")
        tokens.append(Token.objects.get_or_create(user=user)[0].key)
    print(f"# setup {items} items in {setup_s:.1f}s", file=sys.stderr)
    return project.pk, tokens


class Client:
    def __init__(self, port: int, token: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}

    def post(self, path: str, body: dict | None = None) -> tuple[int, dict | None, float]:
        data = json.dumps(body) if body is not None else ""
        for attempt in range(2):
            try:
                started = time.perf_counter()
                self.conn.request("POST", path, body=data, headers=self.headers)
                response = self.conn.getresponse()
                raw = response.read()
                elapsed = time.perf_counter() - started
                return response.status, (json.loads(raw) if raw else None), elapsed
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")


def _phase(port, project_id, tokens, *, seconds, pause, retry_rate, stats, lock) -> dict:  # noqa: ANN001
    deadline = time.monotonic() + seconds
    lat_next: list[float] = []
    lat_submit: list[float] = []
    done = [0]
    errors: list[str] = []

    def worker(token: str, seed: int) -> None:
        rng = random.Random(seed)
        client = Client(port, token)
        while time.monotonic() < deadline:
            status, body, t = client.post(f"/api/v1/projects/{project_id}/next/")
            if status == 204:
                break
            if status != 200:
                errors.append(f"next {status} {body}")
                break
            if pause:
                time.sleep(rng.uniform(0.5 * pause, 1.5 * pause))
            key = str(uuid.uuid4())
            payload = {
                "item_id": body["item"]["id"],
                "client_key": key,
                "answers": {"faithful": rng.random() < 0.8, "helpfulness": rng.randint(1, 5)},
            }
            status, result, t2 = client.post(f"/api/v1/projects/{project_id}/annotations/", payload)
            if status != 201:
                errors.append(f"submit {status} {result}")
                continue
            with lock:
                lat_next.append(t)
                lat_submit.append(t2)
                done[0] += 1
                stats["created"].add(result["id"])
            if rng.random() < retry_rate:
                status, again, _ = client.post(
                    f"/api/v1/projects/{project_id}/annotations/", payload
                )
                with lock:
                    stats["retries"] += 1
                    if status != 200 or again["id"] != result["id"]:
                        stats["bad_retries"] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(tok, i)) for i, tok in enumerate(tokens)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - started
    return {
        "clients": len(tokens),
        "pause_s": pause,
        "seconds": round(wall, 1),
        "annotations": done[0],
        "per_s": round(done[0] / wall, 1),
        "next_ms": {"p50": _percentile(lat_next, 0.5), "p99": _percentile(lat_next, 0.99)},
        "submit_ms": {"p50": _percentile(lat_submit, 0.5), "p99": _percentile(lat_submit, 0.99)},
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--overlap", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn process")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--retry-rate", type=float, default=0.1)
    args = parser.parse_args()
    url = os.environ.setdefault("DATABASE_URL", DEFAULT_DB)
    if not url.startswith("postgres"):
        sys.exit("queue_load needs PostgreSQL: set DATABASE_URL=postgres://...")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    _ensure_database(url)
    project_id, tokens = _setup(args.items, 32, args.overlap)
    env = {**os.environ, "DATABASE_URL": url, "DATABASE_CONN_MAX_AGE": "600", "DEBUG": "0"}
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "webapp.wsgi",
            "-b",
            f"127.0.0.1:{args.port}",
            "-w",
            str(args.workers),
            "-k",
            "gthread",
            "--threads",
            str(args.threads),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=2)
                conn.request("GET", "/healthz")
                conn.getresponse().read()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    sys.exit("gunicorn did not start")
                time.sleep(0.3)
        stats = {"created": set(), "retries": 0, "bad_retries": 0}
        lock = threading.Lock()
        phases = {}
        for name, clients, pause in (
            ("paced_32", 32, 1.0),
            ("burst_8", 8, 0.0),
            ("burst_32", 32, 0.0),
        ):
            phases[name] = _phase(
                args.port,
                project_id,
                tokens[:clients],
                seconds=args.seconds,
                pause=pause,
                retry_rate=args.retry_rate,
                stats=stats,
                lock=lock,
            )
            print(f"# {name}: {phases[name]}", file=sys.stderr)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*), COUNT(DISTINCT (project_item_id, user_id)), "
            "COALESCE(MAX(c), 0) FROM annotation_annotation a, LATERAL (SELECT COUNT(*) c FROM "
            "annotation_annotation b WHERE b.project_item_id = a.project_item_id) x "
            "WHERE a.project_id = %s",
            [project_id],
        )
        stored, distinct_pairs, max_per_item = cursor.fetchone()
        cursor.execute(
            "SELECT COUNT(*) FROM annotation_projectitem WHERE project_id = %s AND "
            "done_count <> (SELECT COUNT(*) FROM annotation_annotation a "
            "WHERE a.project_item_id = annotation_projectitem.id) AND done_count > 0",
            [project_id],
        )
        counter_drift = cursor.fetchone()[0]
    created = len(stats["created"])
    print(
        json.dumps(
            {
                "bench": "queue_load",
                "items": args.items,
                "overlap": args.overlap,
                "gunicorn": f"{args.workers}x{args.threads} gthread",
                "phases": phases,
                "retries": stats["retries"],
                "bad_retries": stats["bad_retries"],
                "submitted": created,
                "stored": stored,
                "lost": created - stored if created > stored else 0,
                "duplicated": stored - distinct_pairs,
                "max_per_item": max_per_item,
                "counter_drift": counter_drift,
                "ok": stored == created == distinct_pairs
                and max_per_item <= args.overlap
                and stats["bad_retries"] == 0,
            }
        )
    )


if __name__ == "__main__":
    main()
