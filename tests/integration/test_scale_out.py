"""Scale-out proof: two Celery workers, each in a network namespace this test makes (its own
host on a private /30 behind a veth pair), share one PostgreSQL and one Redis. One corpus's
scoring shards are split across both; one worker is killed mid-run and the other finishes it.

PostgreSQL and Redis listen on 127.0.0.1 only; each namespace reaches them through a socat
forwarder bound to the host side of its own veth pair, so a worker's traffic leaves its
namespace only over the link the test made (the namespace's loopback has neither service).
"""

from __future__ import annotations

import random
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from annotation.services.projects import project_create
from core.models import Job
from curation.models import ItemScore, ScoringShard
from tests.curation.helpers import candidate_corpus, rate_plain_items, tiny_bert
from tests.factories import StaffFactory
from tests.integration.cluster import (
    Cluster,
    broker_swapped,
    fault_broker_url,
    fault_cache,
    row_locked,
    wait_until,
    waiting_on_lock,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@dataclass
class Host:
    """A network namespace with a veth link to the host and forwarders to PG and Redis."""

    netns: str
    host_ip: str  # the host side of the link: where PostgreSQL and Redis are reached
    ns_ip: str
    forwarders: list[subprocess.Popen]


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def _make_host(tag: str, label: str, prefix: str) -> Host:
    """`prefix` is the first three octets of the link's /30: host side .1, namespace .2."""
    netns, outer, inner = f"arb-{tag}-{label}", f"ah{tag}{label}", f"an{tag}{label}"
    host_ip, ns_ip = f"{prefix}.1", f"{prefix}.2"
    _ip("netns", "add", netns)
    _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
    _ip("link", "set", inner, "netns", netns)
    _ip("addr", "add", f"{host_ip}/30", "dev", outer)
    _ip("link", "set", outer, "up")
    _ip("-n", netns, "addr", "add", f"{ns_ip}/30", "dev", inner)
    _ip("-n", netns, "link", "set", inner, "up")
    _ip("-n", netns, "link", "set", "lo", "up")
    forwarders = [
        subprocess.Popen(
            [
                "socat",
                f"TCP-LISTEN:{port},bind={host_ip},fork,reuseaddr",
                f"TCP:127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in (5432, 6379)
    ]
    return Host(netns=netns, host_ip=host_ip, ns_ip=ns_ip, forwarders=forwarders)


def _remove_host(host: Host, tag: str, label: str) -> None:
    for forwarder in host.forwarders:
        forwarder.terminate()
        forwarder.wait(timeout=10)
    subprocess.run(["ip", "link", "del", f"ah{tag}{label}"], capture_output=True)
    subprocess.run(["ip", "netns", "del", host.netns], capture_output=True)


def _reachable(netns: str, host: str, port: int) -> bool:
    probe = (
        "import socket,sys\n"
        f"try: socket.create_connection(({host!r}, {port}), timeout=2).close()\n"
        "except OSError: sys.exit(1)\n"
    )
    import sys

    return (
        subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", probe]).returncode == 0
    )


def _reachable_soon(netns: str, host: str, port: int, within_s: float = 15.0) -> bool:
    """The forwarders are started just before: on a busy machine socat may not listen yet."""
    import time

    deadline = time.monotonic() + within_s
    while not _reachable(netns, host, port):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


@pytest.fixture
def hosts() -> Iterator[list[Host]]:
    if not shutil.which("socat"):
        pytest.fail("socat is missing: scripts/ensure-services.sh installs it")
    tag = uuid.uuid4().hex[:4]
    # two /30 links in 10.x.y.0/24 (private), x and y picked at random to avoid collisions
    x, y = random.randint(200, 250), random.randint(0, 250)
    made: list[tuple[Host, str]] = []
    try:
        for offset, label in enumerate(("a", "b")):
            made.append((_make_host(tag, label, f"10.{x}.{y + offset}"), label))
        yield [host for host, _ in made]
    finally:
        for host, label in made:
            _remove_host(host, tag, label)


@pytest.fixture
def cluster(tmp_path, settings):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL and Redis (make test-integration)")
    broker = fault_broker_url()
    nodes = Cluster(root=tmp_path / "cluster", broker=broker)
    settings.MEDIA_ROOT = nodes.media_root
    settings.ARTIFACTS_ROOT = nodes.artifacts_root
    settings.CACHES = fault_cache(broker)
    with broker_swapped(broker):
        try:
            yield nodes
        finally:
            nodes.stop_all()


def _ended(job_id: int) -> Job | None:
    # The row, not the API: the API reaps too, and this test shows the surviving worker does.
    job = Job.objects.get(pk=job_id)
    return job if job.is_finished else None


def test_two_namespaced_workers_share_scoring_and_one_finishes_after_the_other_dies(
    hosts,
    cluster,
    tmp_path,
):
    # given: each namespace reaches PostgreSQL and Redis only over its own link
    for host in hosts:
        assert _reachable_soon(host.netns, host.host_ip, 5432)
        assert _reachable_soon(host.netns, host.host_ip, 6379)
        assert not _reachable(host.netns, "127.0.0.1", 5432)
    workers = {
        name: cluster.start(name, netns=host.netns, host=host.host_ip)
        for name, host in zip(("a", "b"), hosts, strict=True)
    }
    staff = StaffFactory()
    client = APIClient()
    client.force_authenticate(staff)
    project = project_create(name="scale", corpora=[candidate_corpus("scale")], created_by=staff)
    rate_plain_items(project)
    corpus = project.corpora.get()
    hyper = {
        "text_encoder": "turn:text:" + str(tiny_bert(Path(tmp_path) / "bert")),
        "image_encoder": "",
        "hidden": 16,
        "epochs": 5,
        "batch_size": 64,
        "seed": 3,
    }
    run = client.post(
        f"/api/v1/projects/{project.pk}/reward-models/", {"hyperparameters": hyper}, format="json"
    ).json()
    trained = wait_until(lambda: _ended(run["job"]["id"]), timeout=180, what="training")
    assert trained.status == Job.Status.SUCCEEDED, trained.error
    # when: the corpus (180 items) is scored in 18 shards while one shard's row is held
    response = client.post(
        f"/api/v1/reward-models/{run['id']}/scorings/",
        {"corpus_id": corpus.pk, "shard_size": 10},
        format="json",
    )
    assert response.status_code == 202, response.json()
    scoring_id, job_id = response.json()["id"], response.json()["job"]["id"]
    held = ScoringShard.objects.get(scoring_id=scoring_id, index=9)
    with row_locked("curation_scoringshard", held.pk):
        blocked = wait_until(waiting_on_lock, timeout=120, what="a worker on the held shard")
        victim = workers[blocked[0].removeprefix("arbiter-")]
        survivor = next(w for w in workers.values() if w is not victim)
        # both workers have scored shards of this run
        wait_until(
            lambda: victim.shards_scored() and survivor.shards_scored(),
            timeout=60,
            what="both workers to score shards",
        )
        victim.kill()
        killed_at = time.monotonic()
    # then: the surviving worker reaps the run and finishes it, within two minutes
    job = wait_until(lambda: _ended(job_id), timeout=120, what="the scoring to end", poll=0.5)
    elapsed = time.monotonic() - killed_at
    assert job.status == Job.Status.SUCCEEDED, (job.message, job.error)
    assert elapsed < 120
    assert not ScoringShard.objects.filter(scoring_id=scoring_id, done=False).exists()
    assert ItemScore.objects.filter(run_id=run["id"]).count() == corpus.items.count()
    victim_shards, survivor_shards = victim.shards_scored(), survivor.shards_scored()
    assert victim_shards and survivor_shards
    assert 9 in survivor_shards and 9 not in victim_shards
    assert victim_shards | survivor_shards == set(range(18))
