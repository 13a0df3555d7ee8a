"""`kill -9` of a gunicorn worker while annotators submit concurrently: no annotation is lost
or stored twice. Clients do what the annotation page does: a submit carries a `client_key`,
and a submit whose connection broke is sent again with the same key until it is answered."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model

from annotation.models import Annotation, AnnotationRevision
from annotation.services.projects import member_set, project_create
from core.services.tokens import token_create
from tests.factories import CorpusFactory, ItemFactory, StaffFactory
from tests.integration.cluster import database_url, fault_broker_url, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
ANNOTATORS = 6
ITEMS = 90
QUESTIONS = [
    {"key": "faithful", "type": "binary", "prompt": "Faithful?"},
    {
        "key": "helpfulness",
        "type": "rating",
        "prompt": "Helpful?",
        "labels": [{"value": v, "label": str(v)} for v in range(1, 6)],
    },
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (make test-integration)")
    port = _free_port()
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url(),
        CELERY_BROKER_URL=fault_broker_url(),
        ARBITER_WEB_WORKERS="2",
        ARBITER_WEB_THREADS="4",
        ARBITER_MEDIA_ROOT=str(tmp_path / "media"),
        ARBITER_ARTIFACTS_ROOT=str(tmp_path / "artifacts"),
    )
    log = (tmp_path / "gunicorn.log").open("w")
    process = subprocess.Popen(
        [
            str(Path(settings.BASE_DIR) / ".venv/bin/gunicorn"),
            "-c",
            "webapp/gunicorn_conf.py",
            "--bind",
            f"127.0.0.1:{port}",
        ],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def answers() -> bool:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            return True
        except OSError:
            assert process.poll() is None, (tmp_path / "gunicorn.log").read_text()[-3000:]
            return False

    wait_until(answers, timeout=60, what="gunicorn to answer", poll=0.3)
    yield type("Server", (), {"port": port, "process": process})
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
    log.close()


def _gunicorn_workers(master_pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(master_pid)], capture_output=True, text=True)
    return [int(pid) for pid in out.stdout.split()]


class _Annotator:
    """next -> submit until the queue is empty; a broken connection is retried as-is."""

    def __init__(self, port: int, token: str, project_id: int) -> None:
        self.port, self.project_id = port, project_id
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        self.acknowledged: dict[str, int] = {}  # client_key -> annotation id
        self.broken = 0
        self.errors: list[str] = []

    def _post(self, path: str, body: dict | None = None) -> tuple[int, dict | None]:
        while True:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                conn.request("POST", path, body=json.dumps(body or {}), headers=self.headers)
                response = conn.getresponse()
                raw = response.read()
                return response.status, (json.loads(raw) if raw else None)
            except (http.client.HTTPException, OSError):
                self.broken += 1  # the worker died under this request: send it again
                time.sleep(0.05)
            finally:
                conn.close()

    def run(self, deadline: float) -> None:
        base = f"/api/v1/projects/{self.project_id}"
        while time.monotonic() < deadline:
            status, body = self._post(f"{base}/next/")
            if status == 204:
                return
            if status != 200:
                self.errors.append(f"next {status} {body}")
                return
            key = str(uuid.uuid4())
            payload = {
                "item_id": body["item"]["id"],
                "client_key": key,
                "answers": {"faithful": True, "helpfulness": 4},
            }
            status, created = self._post(f"{base}/annotations/", payload)
            if status not in (200, 201):
                self.errors.append(f"submit {status} {created}")
                continue
            self.acknowledged[key] = created["id"]


def test_killed_web_worker_loses_and_duplicates_no_annotation(server):
    # given: a project and six annotators with tokens
    owner = StaffFactory()
    corpus = CorpusFactory()
    for k in range(ITEMS):
        ItemFactory(
            corpus=corpus,
            has_candidates=False,
            conversations=[
                {"from": "human", "value": f"Question {k}?"},
                {"from": "gpt", "value": f"Answer {k}."},
            ],
        )
    project = project_create(
        name="web-faults", corpora=[corpus], created_by=owner, questions=QUESTIONS
    )
    clients = []
    for k in range(ANNOTATORS):
        user = get_user_model().objects.create(username=f"web-fault-{k}")
        member_set(project=project, user_id=user.pk, role="annotator")
        _, token = token_create(user=user)
        clients.append(_Annotator(server.port, token, project.pk))
    deadline = time.monotonic() + 90
    threads = [threading.Thread(target=c.run, args=(deadline,)) for c in clients]
    for thread in threads:
        thread.start()
    # when: a web worker is killed twice while submits are under way
    killed = []
    for threshold in (ITEMS // 4, ITEMS // 2):
        wait_until(
            lambda t=threshold: Annotation.objects.filter(project=project).count() >= t,
            timeout=60,
            what=f"{threshold} annotations",
            poll=0.05,
        )
        workers = wait_until(
            lambda: _gunicorn_workers(server.process.pid), timeout=30, what="gunicorn workers"
        )
        os.kill(workers[0], signal.SIGKILL)
        killed.append(workers[0])
    for thread in threads:
        thread.join(timeout=120)
    # then: every acknowledged submit is stored once, nothing else is stored
    assert [e for c in clients for e in c.errors] == []
    acknowledged = {key: aid for c in clients for key, aid in c.acknowledged.items()}
    stored = list(
        AnnotationRevision.objects.filter(annotation__project=project).values_list(
            "client_key", "annotation_id"
        )
    )
    stored_keys = {str(key): aid for key, aid in stored}
    lost = set(acknowledged) - set(stored_keys)
    duplicated = len(stored) - len(stored_keys)
    assert lost == set() and duplicated == 0
    assert stored_keys == acknowledged
    rows = Annotation.objects.filter(project=project)
    assert rows.count() == len(acknowledged)
    assert rows.values("project_item", "user").distinct().count() == rows.count()
    assert len(killed) == 2
    # the kills did break requests under way (typically 2 to 6 of them), which were sent again
    assert sum(c.broken for c in clients) >= 1
