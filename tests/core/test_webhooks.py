"""Webhooks: signed deliveries of every event, retried with backoff, each attempt logged; the
outbound-address check; the verification snippet of docs/handoff.md, run as written.

The receiver is a real HTTP server on loopback (a thread); deliveries run eagerly, in process,
after the commit, as a worker would run them."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.db import transaction

from annotation.services.projects import project_create
from core.errors import DomainError
from core.models import Job, WebhookAttempt, WebhookDelivery, WebhookEvent
from core.outbound import outbound_url_check
from core.services.jobs import job_create, job_run
from core.services.webhooks import (
    event_emit,
    webhook_backoff,
    webhook_delivery_attempt,
    webhook_endpoint_create,
)
from curation.models import DatasetItem, DatasetVersion, Export, ItemScore, RewardModelRun
from curation.services.curation import curation_commit
from curation.services.export import export_start
from curation.services.reward_models import reward_model_promote, reward_model_run_finished
from tests.engine.conftest import client_for
from tests.factories import CorpusFactory, ItemFactory, StaffFactory

pytestmark = pytest.mark.django_db
HANDOFF = Path(__file__).resolve().parents[2] / "docs" / "handoff.md"


class Receiver:
    """A loopback HTTP server that answers 500 to the first `failures` requests of each event
    id, then 200; it keeps every request (headers, raw body, the status it answered)."""

    def __init__(self, failures: int = 2) -> None:
        self.failures = failures
        self.requests: list[dict] = []
        self.seen: dict[str, int] = defaultdict(int)
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    event_id = self.headers.get("X-Arbiter-Event-Id", "")
                    receiver.seen[event_id] += 1
                    status = 500 if receiver.seen[event_id] <= receiver.failures else 200
                    receiver.requests.append(
                        {"headers": dict(self.headers), "body": body, "status": status}
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def accepted(self) -> list[dict]:
        return [r for r in self.requests if r["status"] == 200]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    receiver = Receiver(failures=2)
    yield receiver
    receiver.close()


@pytest.fixture
def webhook_settings(settings):
    settings.ARBITER_WEBHOOK_URL_ALLOW = ["127.0.0.1"]
    settings.ARBITER_WEBHOOK_BACKOFF_SECONDS = 0.01
    settings.ARBITER_WEBHOOK_MAX_ATTEMPTS = 5
    settings.ARBITER_WEBHOOK_TIMEOUT = 5
    return settings


@pytest.fixture
def eager():
    from webapp.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager = False


def _snippet():
    """The verification function exactly as docs/handoff.md prints it."""
    text = HANDOFF.read_text()
    block = re.search(
        r"<!-- verify-snippet:start -->\n```python\n(.*?)```\n<!-- verify-snippet:end -->",
        text,
        re.S,
    )
    assert block, "docs/handoff.md lost its verification snippet"
    namespace: dict = {}
    exec(compile(block.group(1), str(HANDOFF), "exec"), namespace)
    return namespace["verify_arbiter_webhook"]


def _world():
    staff = StaffFactory()
    corpus = CorpusFactory()
    items = ItemFactory.create_batch(6, corpus=corpus)
    project = project_create(name="p", corpora=[corpus], created_by=staff)
    run = RewardModelRun.objects.create(
        project=project,
        job=Job.objects.create(kind=Job.Kind.REWARD_MODEL_TRAIN, status=Job.Status.SUCCEEDED),
        hyperparameters={},
        text_encoder="hash",
        in_progress=True,
        artifact_path="runs/x",
        metrics={"val_accuracy": 0.8},
    )
    ItemScore.objects.bulk_create(
        ItemScore(run=run, item=item, overall=i / 6) for i, item in enumerate(items)
    )
    return staff, project, run, items


def test_each_event_reaches_a_flaky_receiver_exactly_once(
    receiver, webhook_settings, eager, django_capture_on_commit_callbacks, tmp_path
):
    # given: an endpoint for every event, created through the API, and a receiver that fails
    # the first two requests of each event
    webhook_settings.ARTIFACTS_ROOT = tmp_path
    staff, project, run, items = _world()
    created = client_for(staff).post("/api/v1/webhooks/", {"url": receiver.url}, format="json")
    assert created.status_code == 201, created.json()
    secret, endpoint_id = created.json()["secret"], created.json()["id"]
    assert "secret" not in client_for(staff).get("/api/v1/webhooks/").json()[0]

    # when: each event happens through the code that causes it
    with django_capture_on_commit_callbacks(execute=True):
        reward_model_run_finished(run_id=run.pk)  # reward_model.trained
    with django_capture_on_commit_callbacks(execute=True):
        reward_model_promote(run=run, user=staff)  # reward_model.promoted
    with django_capture_on_commit_callbacks(execute=True):
        dataset = curation_commit(
            project=project,
            run=run,
            policy=[{"op": "top_fraction", "score": "overall", "fraction": 0.5}],
        )  # curation.committed
    with django_capture_on_commit_callbacks(execute=True):
        export = export_start(dataset=dataset, format="jsonl")  # export.ready
    job = job_create(kind=Job.Kind.CORPUS_IMPORT, params={})
    with django_capture_on_commit_callbacks(execute=True):
        job_run(job.pk, lambda job: 1 / 0)  # job.failed

    # then: five events, each tried three times and accepted once
    export.refresh_from_db()
    assert export.job.status == Job.Status.SUCCEEDED, export.job.error
    types = [r["headers"]["X-Arbiter-Event"] for r in receiver.accepted()]
    assert sorted(types) == sorted(
        [
            "reward_model.trained",
            "reward_model.promoted",
            "curation.committed",
            "export.ready",
            "job.failed",
        ]
    )
    assert all(count == 3 for count in receiver.seen.values()), receiver.seen
    assert len(receiver.requests) == 15
    verify = _snippet()
    for request in receiver.accepted():
        event = verify(secret, request["body"], request["headers"])
        assert event["id"] == request["headers"]["X-Arbiter-Event-Id"]
    by_type = {
        json.loads(r["body"])["type"]: json.loads(r["body"])["data"] for r in receiver.accepted()
    }
    assert by_type["export.ready"]["export"]["id"] == export.pk
    assert by_type["export.ready"]["export"]["records"] == 3
    assert by_type["curation.committed"]["dataset"]["id"] == dataset.pk
    assert by_type["reward_model.trained"]["reward_model"]["metrics"] == {"val_accuracy": 0.8}
    assert by_type["job.failed"]["job"]["error"]["code"] == "job_failed"
    assert "traceback" not in by_type["job.failed"]["job"]["error"]["details"]

    # and the delivery log shows every attempt
    deliveries = client_for(staff).get(f"/api/v1/webhooks/{endpoint_id}/deliveries/").json()
    assert len(deliveries["results"]) == 5
    for delivery in deliveries["results"]:
        assert delivery["status"] == "delivered" and delivery["attempts"] == 3
        log = delivery["attempt_log"]
        assert [a["response_code"] for a in log] == [500, 500, 200]
        assert [a["ok"] for a in log] == [False, False, True]
        assert log[0]["error"] == "HTTP 500" and log[2]["error"] == ""
        assert all(a["duration_ms"] >= 0 for a in log)


def test_the_snippet_rejects_tampering_and_stale_deliveries(
    receiver, webhook_settings, eager, django_capture_on_commit_callbacks
):
    receiver.failures = 0
    endpoint = webhook_endpoint_create(url=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        event_emit(type="job.failed", key="k", data={"job": {"id": 1}})
    (request,) = receiver.requests
    body, headers = request["body"], request["headers"]
    verify = _snippet()
    assert verify(endpoint.secret, body, headers)["type"] == "job.failed"
    tampered_body = body.replace(b'"id":1', b'"id":2')
    assert tampered_body != body
    tampered_signature = {
        **headers,
        "X-Arbiter-Signature": headers["X-Arbiter-Signature"][:-1]
        + ("0" if headers["X-Arbiter-Signature"][-1] != "0" else "1"),
    }
    for bad in (
        lambda: verify(endpoint.secret, tampered_body, headers),
        lambda: verify(endpoint.secret, body, tampered_signature),
        lambda: verify("another secret", body, headers),
        lambda: verify(endpoint.secret, body, {}),
    ):
        with pytest.raises(ValueError, match="bad signature"):
            bad()
    # a replay long after: signed timestamp too old
    with pytest.raises(ValueError, match="stale"):
        verify(endpoint.secret, body, headers, tolerance_s=-1)


def test_attempts_back_off_exponentially_and_stop(webhook_settings):
    webhook_settings.ARBITER_WEBHOOK_MAX_ATTEMPTS = 3
    webhook_settings.ARBITER_WEBHOOK_BACKOFF_SECONDS = 10
    dead = Receiver(failures=10**6)
    try:
        endpoint = webhook_endpoint_create(url=dead.url, events=["job.failed"])
        event_emit(type="job.failed", key="k", data={})
        delivery = WebhookDelivery.objects.select_related("endpoint", "event").get()
        delays = [webhook_delivery_attempt(delivery=delivery) for _ in range(4)]
    finally:
        dead.close()
    assert delays == [10, 20, None, None]  # the fourth call finds the delivery failed
    assert webhook_backoff(4) == 80
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", 3)
    assert WebhookAttempt.objects.filter(delivery=delivery).count() == 3
    assert len(dead.requests) == 3
    assert endpoint.deliveries.count() == 1


def test_an_unreachable_receiver_is_logged_and_retried(webhook_settings):
    # nothing listens on this port (a server bound, then closed)
    gone = Receiver()
    url = gone.url
    gone.close()
    webhook_endpoint_create(url=url)
    event_emit(type="export.ready", key="k", data={})
    delivery = WebhookDelivery.objects.select_related("endpoint", "event").get()
    assert webhook_delivery_attempt(delivery=delivery) == 0.01
    attempt = WebhookAttempt.objects.get()
    assert attempt.response_code is None and "Connection refused" in attempt.error


def test_events_follow_their_transaction_and_happen_once(webhook_settings):
    webhook_endpoint_create(url="http://127.0.0.1:9/")
    with pytest.raises(RuntimeError), transaction.atomic():
        event_emit(type="job.failed", key="rolled-back", data={})
        raise RuntimeError
    assert not WebhookEvent.objects.exists()
    assert event_emit(type="export.ready", key="export.ready:export:1", data={}) is not None
    assert event_emit(type="export.ready", key="export.ready:export:1", data={}) is None
    assert WebhookDelivery.objects.count() == 1
    # endpoints choose their event types
    webhook_endpoint_create(url="http://127.0.0.1:9/", events=["job.failed"])
    event_emit(type="curation.committed", key="c", data={})
    assert WebhookDelivery.objects.filter(event__type="curation.committed").count() == 1


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost:8000/",
        "http://10.0.0.5/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "http://100.100.100.200/",  # a cloud metadata service in the shared range
        "http://[64:ff9b::7f00:1]/",  # NAT64 form of loopback
        "ftp://93.184.216.34/",
        "http://user:pw@93.184.216.34/",
        "http://no-such-host.invalid/",
    ],
)
def test_outbound_check_refuses_internal_targets(url):
    with pytest.raises(DomainError) as caught:
        outbound_url_check(url)
    assert caught.value.code == "url_not_allowed"


def test_imports_and_webhooks_share_one_address_rule():
    from core import outbound
    from corpora.pipeline import url_fetch

    assert url_fetch.is_public_address is outbound.is_public_address
    assert url_fetch.UrlAllowList is outbound.UrlAllowList


def test_outbound_check_allows_public_and_allow_listed_targets():
    assert outbound_url_check("https://93.184.216.34/hook")
    assert outbound_url_check("http://127.0.0.1:8080/", allow=["127.0.0.1"])
    assert outbound_url_check("http://10.1.2.3/", allow=["10.1.0.0/16"])
    assert outbound_url_check("http://localhost/", allow=["localhost"])
    with pytest.raises(DomainError):
        outbound_url_check("http://10.2.0.1/", allow=["10.1.0.0/16"])


def test_the_api_refuses_a_loopback_webhook_by_default(settings):
    settings.ARBITER_WEBHOOK_URL_ALLOW = []
    staff = StaffFactory()
    response = client_for(staff).post(
        "/api/v1/webhooks/", {"url": "http://127.0.0.1:8000/hook"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "url_not_allowed"
    response = client_for(staff).post(
        "/api/v1/webhooks/", {"url": "https://93.184.216.34/", "events": ["nope"]}, format="json"
    )
    assert response.status_code == 400


def test_deleting_an_endpoint_stops_its_deliveries(webhook_settings):
    staff = StaffFactory()
    endpoint = webhook_endpoint_create(url="http://127.0.0.1:9/")
    event_emit(type="job.failed", key="k", data={})
    response = client_for(staff).delete(f"/api/v1/webhooks/{endpoint.pk}/")
    assert response.status_code == 204
    assert not WebhookDelivery.objects.exists()
    assert client_for(staff).get(f"/api/v1/webhooks/{endpoint.pk}/").status_code == 404


def test_a_delivery_is_signed_over_the_raw_body(receiver, webhook_settings):
    receiver.failures = 0
    endpoint = webhook_endpoint_create(url=receiver.url)
    event_emit(type="reward_model.trained", key="k", data={"x": 1})
    delivery = WebhookDelivery.objects.select_related("endpoint", "event").get()
    before = int(time.time())
    assert webhook_delivery_attempt(delivery=delivery) is None
    (request,) = receiver.requests
    import hashlib
    import hmac

    expected = hmac.new(endpoint.secret.encode(), request["body"], hashlib.sha256).hexdigest()
    assert request["headers"]["X-Arbiter-Signature"] == f"sha256={expected}"
    body = json.loads(request["body"])
    assert body["id"] == request["headers"]["X-Arbiter-Event-Id"] == str(delivery.event.uuid)
    assert str(body["timestamp"]) == request["headers"]["X-Arbiter-Timestamp"]
    assert body["timestamp"] >= before and body["data"] == {"x": 1}


def test_export_redelivered_announces_once(db):
    # a dataset version and its export recorded as done: the export task run twice
    staff, project, run, items = _world()
    dataset = DatasetVersion.objects.create(project=project, number=1, policy=[], run=run)
    DatasetItem.objects.create(dataset=dataset, item=items[0])
    export = Export.objects.create(
        dataset=dataset,
        job=Job.objects.create(kind=Job.Kind.DATASET_EXPORT, status=Job.Status.SUCCEEDED),
        format=Export.Format.JSONL,
    )
    from workers.curation_tasks import dataset_export_task

    dataset_export_task(export.pk)
    dataset_export_task(export.pk)
    assert WebhookEvent.objects.filter(type="export.ready").count() == 1


def test_a_delivery_connects_to_the_vetted_address_only(receiver, webhook_settings, monkeypatch):
    # given: a name that resolves (here, by the check) to the loopback receiver, allowed by name;
    # the real DNS knows no such name, so reaching the receiver proves the connection went to the
    # vetted address without a second lookup
    import ipaddress

    from core import outbound

    receiver.failures = 0
    port = receiver.server.server_address[1]
    webhook_settings.ARBITER_WEBHOOK_URL_ALLOW = ["hooks.example"]
    monkeypatch.setattr(
        outbound, "_addresses", lambda host, port: [ipaddress.ip_address("127.0.0.1")]
    )
    webhook_endpoint_create(url=f"http://hooks.example:{port}/hook?x=1")
    event_emit(type="job.failed", key="k", data={})
    delivery = WebhookDelivery.objects.select_related("endpoint", "event").get()
    assert webhook_delivery_attempt(delivery=delivery) is None
    (request,) = receiver.requests
    assert request["headers"]["Host"] == f"hooks.example:{port}"
