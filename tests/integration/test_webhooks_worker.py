"""Webhooks through a real Celery worker and Redis: an event emitted by the web process and one
emitted inside the worker (an export) each reach a flaky loopback receiver exactly once, after
two refused attempts retried with backoff."""

from __future__ import annotations

import json
import time

import pytest

from annotation.services.projects import project_create
from core.models import Job, WebhookDelivery
from core.services.jobs import job_create, job_run
from core.services.webhooks import webhook_endpoint_create
from curation.models import DatasetItem, DatasetVersion
from curation.services.export import export_start
from tests.conftest import wait_for_job
from tests.core.test_webhooks import Receiver, _snippet
from tests.factories import CorpusFactory, ItemFactory, StaffFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _wait_delivered(n: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while WebhookDelivery.objects.filter(status="delivered").count() < n:
        assert time.monotonic() < deadline, list(
            WebhookDelivery.objects.values("status", "attempts")
        )
        time.sleep(0.2)


def test_events_reach_a_flaky_receiver_once_through_the_worker(worker, settings):
    settings.ARBITER_WEBHOOK_URL_ALLOW = ["127.0.0.1"]
    receiver = Receiver(failures=2)
    try:
        endpoint = webhook_endpoint_create(url=receiver.url)
        staff = StaffFactory()
        corpus = CorpusFactory()
        items = ItemFactory.create_batch(3, corpus=corpus)
        project = project_create(name="hooks", corpora=[corpus], created_by=staff)
        dataset = DatasetVersion.objects.create(project=project, number=1, policy=[])
        DatasetItem.objects.bulk_create(DatasetItem(dataset=dataset, item=i) for i in items)
        # when: a job fails here (job.failed queued from this process) and an export succeeds
        # in the worker (export.ready queued from the worker)
        job = job_create(kind=Job.Kind.CORPUS_IMPORT, params={})
        job_run(job.pk, lambda job: 1 / 0)
        export = export_start(dataset=dataset, format="jsonl", user=staff)
        assert wait_for_job(export.job_id).status == Job.Status.SUCCEEDED
        _wait_delivered(2)
    finally:
        receiver.close()
    # then: three tries each, one accepted each, signed with the endpoint's secret
    accepted = receiver.accepted()
    assert sorted(r["headers"]["X-Arbiter-Event"] for r in accepted) == [
        "export.ready",
        "job.failed",
    ]
    assert sorted(receiver.seen.values()) == [3, 3]
    verify = _snippet()
    for request in accepted:
        verify(endpoint.secret, request["body"], request["headers"])
    ready = next(json.loads(r["body"]) for r in accepted if b"export.ready" in r["body"])
    assert ready["data"]["export"]["id"] == export.pk
    for delivery in WebhookDelivery.objects.all():
        codes = list(delivery.attempt_log.values_list("response_code", flat=True))
        assert codes == [500, 500, 200]
