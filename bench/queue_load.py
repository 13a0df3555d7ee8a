"""Queue load test against the production set-up: PostgreSQL + gunicorn on 127.0.0.1.

Creates a project of `--items` items (default 1,000,000) with bulk SQL, or reuses the one an
earlier run left (its queue state reset: no annotations, no leases, every slot open); `--fresh`
rebuilds it. Starts gunicorn from this script with the production settings
(webapp/gunicorn_conf.py) and runs phases of N clients doing next -> submit loops with token
auth: a 5 s warm-up, 32 clients pausing 0.5-1.5 s per item (p50/p99 latency of next and
submit), then 8 and 32 clients with no pause (throughput). Before each phase the queue's tables
are vacuumed and analysed, as autovacuum would have done. A share of submits is retried with
the same client_key. Finally it checks that no annotation was lost or duplicated, and prints
one JSON line with, per phase, where the machine's CPU time went (it is shared).

The clients run in several processes (`--client-procs`), a few threads each: 32 threads in one
process would queue on that process's GIL, and the time a response waits for its thread to get
the GIL back would count as server latency. Paced clients start at random moments within the
first pause, as people do, rather than all in the same millisecond.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/arbiter_bench \\
        .venv/bin/python bench/queue_load.py [--items 1000000] [--seconds 60]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
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
PROJECT = "queue-load"
VACUUMED = (
    "annotation_item",
    "annotation_projectitem",
    "annotation_assignment",
    "annotation_annotation",
    "annotation_annotationrevision",
)


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


def _drop_project(cursor, project_id: int) -> None:
    # The big tables go first in plain SQL: the ORM's cascade would load a million rows.
    _drop_project_answers(cursor, project_id)
    cursor.execute("DELETE FROM annotation_projectitem WHERE project_id = %s", [project_id])


def _reset_project(cursor, project_id: int, overlap: int) -> None:
    """Back to the state project_create leaves: no answers, no leases, all slots open."""
    _drop_project_answers(cursor, project_id)
    cursor.execute(
        "UPDATE annotation_projectitem SET open_slots = %s, done_count = 0, responses = 0, "
        "disagreement = 0 WHERE project_id = %s "
        "AND (open_slots <> %s OR done_count <> 0 OR responses <> 0)",
        [overlap, project_id, overlap],
    )
    cursor.execute(
        "UPDATE annotation_projectmembership SET gold_answered = 0, gold_correct = 0 "
        "WHERE project_id = %s",
        [project_id],
    )


def _drop_project_answers(cursor, project_id: int) -> None:
    cursor.execute(
        "DELETE FROM annotation_annotationrevision r USING annotation_annotation a "
        "WHERE r.annotation_id = a.id AND a.project_id = %s",
        [project_id],
    )
    cursor.execute("DELETE FROM annotation_annotation WHERE project_id = %s", [project_id])
    cursor.execute("DELETE FROM annotation_assignment WHERE project_id = %s", [project_id])


def _vacuum() -> None:
    """What autovacuum does in production; this machine's PostgreSQL runs with it off.

    Dead rows that imports (other benchmarks share this database) and earlier runs leave at
    the ends of the id indexes make the planner walk them on every join that touches those
    tables (get_actual_variable_range): 1-6 ms of planning per query instead of 0.1 ms.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        for table in VACUUMED:
            cursor.execute(f"VACUUM ANALYZE {table}")


def _setup(items: int, clients: int, overlap: int, fresh: bool) -> tuple[int, list[str]]:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from annotation.models import Project
    from annotation.services.projects import member_set
    from core.services.tokens import token_create
    from corpora.models import Corpus, Item

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    project = Project.objects.filter(name=PROJECT).first()
    corpus = Corpus.objects.filter(name=PROJECT).first()
    reusable = (
        not fresh
        and project is not None
        and corpus is not None
        and project.overlap == overlap
        and Item.objects.filter(corpus=corpus).count() == items
        and project.project_items.count() == items
    )
    with connection.cursor() as cursor:
        if reusable:
            _reset_project(cursor, project.pk, overlap)
        else:
            if project is not None:
                _drop_project(cursor, project.pk)
                project.delete()
            if corpus is not None:
                cursor.execute("DELETE FROM annotation_item WHERE corpus_id = %s", [corpus.pk])
                corpus.delete()
            project = _create_project(cursor, items=items, overlap=overlap)
    User = get_user_model()
    tokens = []
    for i in range(clients):
        user, _ = User.objects.get_or_create(username=f"queue-load-{i}")
        member_set(project=project, user_id=user.pk, role="annotator")
        tokens.append(token_create(user=user, name="queue-load")[1])
    setup_s = time.perf_counter() - started
    verb = "reused and reset" if reusable else "created"
    print(f"# setup: {items} items {verb} in {setup_s:.1f}s", file=sys.stderr)
    return project.pk, tokens


def _create_project(cursor, *, items: int, overlap: int):
    from django.contrib.auth import get_user_model

    from annotation.services.projects import project_create
    from corpora.models import Corpus

    corpus = Corpus.objects.create(name=PROJECT)
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
    owner, _ = get_user_model().objects.get_or_create(
        username="queue-load-owner", defaults={"is_staff": True}
    )
    project = project_create(
        name=PROJECT,
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
    cursor.execute("ANALYZE annotation_item; ANALYZE annotation_projectitem;")
    return project


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
                # The server closed an idle keep-alive connection: reconnect, time it afresh.
                self.conn.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")


def _client_proc(spec: dict, out: multiprocessing.Queue) -> None:
    """One client process: a thread per token, results sent back as one dict."""
    result: dict = {
        "next": [],
        "submit": [],
        "created": [],
        "retries": 0,
        "bad_retries": 0,
        "errors": [],
        "samples": [],
    }
    lock = threading.Lock()
    start_at, deadline, pause = spec["start_at"], spec["start_at"] + spec["seconds"], spec["pause"]
    project_id, port = spec["project_id"], spec["port"]

    def worker(token: str, seed: int) -> None:
        rng = random.Random(seed)
        time.sleep(max(0.0, start_at - time.monotonic()))
        if pause:
            time.sleep(rng.uniform(0, pause))
        client = Client(port, token)
        while time.monotonic() < deadline:
            at = time.monotonic() - start_at
            status, body, t = client.post(f"/api/v1/projects/{project_id}/next/")
            if status == 204:
                break
            if status != 200:
                result["errors"].append(f"next {status} {body}")
                break
            if pause:
                time.sleep(rng.uniform(0.5 * pause, 1.5 * pause))
            key = str(uuid.uuid4())
            payload = {
                "item_id": body["item"]["id"],
                "client_key": key,
                "answers": {"faithful": rng.random() < 0.8, "helpfulness": rng.randint(1, 5)},
            }
            at2 = time.monotonic() - start_at
            status, created, t2 = client.post(
                f"/api/v1/projects/{project_id}/annotations/", payload
            )
            if status != 201:
                result["errors"].append(f"submit {status} {created}")
                continue
            with lock:
                result["next"].append(t)
                result["submit"].append(t2)
                result["created"].append(created["id"])
                result["samples"] += [("next", at, t), ("submit", at2, t2)]
            if rng.random() < spec["retry_rate"]:
                status, again, _ = client.post(
                    f"/api/v1/projects/{project_id}/annotations/", payload
                )
                with lock:
                    result["retries"] += 1
                    if status != 200 or again["id"] != created["id"]:
                        result["bad_retries"] += 1

    threads = [threading.Thread(target=worker, args=pair) for pair in spec["tokens"]]
    cpu = time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result["cpu_s"] = time.process_time() - cpu
    out.put(result)


def _machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(ticks) - idle) / hz, sum(ticks) / hz


def _group_cpu(pgid: int) -> float:
    """CPU seconds used so far by the live processes of one process group (gunicorn)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _phase(port, project_id, tokens, *, seconds, pause, retry_rate, procs, stats, server) -> dict:
    # Spawned, not forked: the parent holds Django and a database connection.
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    start_at = time.monotonic() + 2.0  # time for the processes to start
    seeded = [(token, i) for i, token in enumerate(tokens)]
    shares = [seeded[i::procs] for i in range(procs) if seeded[i::procs]]
    spec = {"port": port, "project_id": project_id, "seconds": seconds, "pause": pause}
    spec |= {"retry_rate": retry_rate, "start_at": start_at}
    workers = [ctx.Process(target=_client_proc, args=({**spec, "tokens": s}, out)) for s in shares]
    for process in workers:
        process.start()
    time.sleep(max(0.0, start_at - time.monotonic()))
    busy0, total0 = _machine_cpu()
    server0 = _group_cpu(server.pid)
    results = [out.get() for _ in workers]
    wall = time.monotonic() - start_at
    busy1, total1 = _machine_cpu()
    server_cpu = _group_cpu(server.pid) - server0
    for process in workers:
        process.join()
    lat_next = [t for r in results for t in r["next"]]
    lat_submit = [t for r in results for t in r["submit"]]
    errors = [e for r in results for e in r["errors"]]
    for r in results:
        stats["created"].update(r["created"])
        stats["retries"] += r["retries"]
        stats["bad_retries"] += r["bad_retries"]
        stats["samples"] += r["samples"]
    done = len(lat_next)
    return {
        "clients": len(tokens),
        "pause_s": pause,
        "seconds": round(wall, 1),
        "annotations": done,
        "per_s": round(done / wall, 1),
        "next_ms": {"p50": _percentile(lat_next, 0.5), "p99": _percentile(lat_next, 0.99)},
        "submit_ms": {"p50": _percentile(lat_submit, 0.5), "p99": _percentile(lat_submit, 0.99)},
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        # Where the cores went: this machine is shared, so the rest of "busy" is PostgreSQL
        # (for these clients and for anyone else) and other people's work.
        "cpu_s": {
            "machine_busy": round(busy1 - busy0, 1),
            "machine_total": round(total1 - total0, 1),
            "gunicorn": round(server_cpu, 1),
            "clients": round(sum(r["cpu_s"] for r in results), 1),
        },
        # The robust figure on a shared machine: gunicorn CPU per next+submit loop (the
        # retried submits included).
        "gunicorn_cpu_ms_per_loop": round(server_cpu / done * 1000, 2) if done else None,
    }


def _start_gunicorn(port: int, env: dict) -> subprocess.Popen:
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "-c",
            str(ROOT / "webapp/gunicorn_conf.py"),
            "webapp.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            return server
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                os.killpg(server.pid, signal.SIGTERM)
                sys.exit("gunicorn did not start")
            time.sleep(0.3)


def _check(project_id: int) -> tuple[int, int, int, int]:
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
    return stored, distinct_pairs, max_per_item, counter_drift


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--overlap", type=int, default=3)
    parser.add_argument("--fresh", action="store_true", help="rebuild the project")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--retry-rate", type=float, default=0.1)
    parser.add_argument("--client-procs", type=int, default=4, help="client processes")
    parser.add_argument("--phases", default="warmup_32,paced_32,burst_8,burst_32")
    parser.add_argument("--warmup-seconds", type=float, default=5)
    parser.add_argument("--samples", help="write every (kind, start s, latency s) here")
    args = parser.parse_args()
    url = os.environ.setdefault("DATABASE_URL", DEFAULT_DB)
    if not url.startswith("postgres"):
        sys.exit("queue_load needs PostgreSQL: set DATABASE_URL=postgres://...")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    _ensure_database(url)
    project_id, tokens = _setup(args.items, 32, args.overlap, args.fresh)
    env = {**os.environ, "DATABASE_URL": url, "DATABASE_CONN_MAX_AGE": "600", "DEBUG": "0"}
    stats: dict = {"created": set(), "retries": 0, "bad_retries": 0, "samples": []}
    phases = {}
    # The warm-up is paced_32 for a few seconds: each gunicorn thread opens its PostgreSQL
    # connection, whose first queries fill that backend's catalog caches (20-60 ms once per
    # thread). Its figures are printed but it is not the steady state the target is about.
    all_phases = {
        "warmup_32": (32, 1.0, args.warmup_seconds),
        "paced_32": (32, 1.0, args.seconds),
        "burst_8": (8, 0.0, args.seconds),
        "burst_32": (32, 0.0, args.seconds),
    }
    server = _start_gunicorn(args.port, env)
    try:
        for name in args.phases.split(","):
            clients, pause, seconds = all_phases[name]
            _vacuum()
            phases[name] = _phase(
                args.port,
                project_id,
                tokens[:clients],
                seconds=seconds,
                pause=pause,
                retry_rate=args.retry_rate,
                procs=args.client_procs,
                stats=stats,
                server=server,
            )
            print(f"# {name}: {phases[name]}", file=sys.stderr)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    if args.samples:
        Path(args.samples).write_text(json.dumps(stats["samples"]))
    stored, distinct_pairs, max_per_item, counter_drift = _check(project_id)
    created = len(stats["created"])
    from webapp import gunicorn_conf

    print(
        json.dumps(
            {
                "bench": "queue_load",
                "items": args.items,
                "overlap": args.overlap,
                "gunicorn": f"{gunicorn_conf.workers}x{gunicorn_conf.threads} "
                f"{gunicorn_conf.worker_class}",
                "client_procs": args.client_procs,
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
