"""Many threads hammer next/submit against PostgreSQL: overlap holds, nobody sees an item
twice, and retried submits never duplicate an annotation."""

from __future__ import annotations

import random
import threading
import uuid
from collections import Counter

import pytest
from django.db import connection, connections

from annotation.models import Annotation, AnnotationRevision, ProjectItem, ProjectMembership
from annotation.services.projects import member_set, project_create
from tests.engine.conftest import client_for, good_answers
from tests.factories import CorpusFactory, ItemFactory, StaffFactory, UserFactory

THREADS = 24
USERS = 12  # two threads per user: one annotator's concurrent tabs must not break anything
ITEMS = 60
OVERLAP = 3


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_concurrent_next_and_submit_keep_overlap_and_uniqueness(settings):
    if connection.vendor != "postgresql":
        pytest.fail("needs PostgreSQL: run it with make test-integration")
    corpus = CorpusFactory()
    ItemFactory.create_batch(ITEMS, corpus=corpus)
    project = project_create(
        name="hammer",
        corpora=[corpus],
        created_by=StaffFactory(),
        overlap=OVERLAP,
        sampling="random",
    )
    users = [UserFactory(username=f"h{i}") for i in range(USERS)]
    for user in users:
        member_set(project=project, user_id=user.pk, role=ProjectMembership.Role.ANNOTATOR)
    errors: list[str] = []
    retries = Counter()
    served: list[tuple[int, int]] = []
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def work(index: int) -> None:
        user = users[index % USERS]
        client = client_for(user)
        rng = random.Random(index)
        start.wait()
        try:
            for _ in range(ITEMS * 2):
                r = client.post(f"/api/v1/projects/{project.pk}/next/")
                if r.status_code == 204:
                    break
                if r.status_code != 200:
                    errors.append(f"next {r.status_code} {r.content[:200]!r}")
                    break
                item_id = r.json()["item"]["id"]
                with lock:
                    served.append((item_id, user.pk))
                key = str(uuid.uuid4())
                body = {"item_id": item_id, "answers": good_answers(), "client_key": key}
                for attempt in range(3 if rng.random() < 0.3 else 1):
                    s = client.post(
                        f"/api/v1/projects/{project.pk}/annotations/", body, format="json"
                    )
                    if s.status_code not in (200, 201):
                        errors.append(f"submit {s.status_code} {s.content[:200]!r}")
                    if attempt:
                        with lock:
                            retries[s.status_code] += 1
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors[:5]
    per_item = Counter(Annotation.objects.filter(project=project).values_list("item_id", flat=True))
    assert len(per_item) == ITEMS
    assert set(per_item.values()) == {OVERLAP}
    pairs = list(Annotation.objects.filter(project=project).values_list("item_id", "user_id"))
    assert len(pairs) == len(set(pairs)) == ITEMS * OVERLAP
    # two threads of one user may both be served their shared lease: count distinct pairs
    assert len(set(served)) == ITEMS * OVERLAP
    # two tabs of one user answering their shared lease make an edit (revision 2), never a
    # second annotation; retries with a seen client_key write nothing
    revisions = AnnotationRevision.objects.filter(annotation__project=project)
    assert revisions.filter(revision=1).count() == ITEMS * OVERLAP
    for annotation in Annotation.objects.filter(project=project):
        assert annotation.revisions.count() == annotation.revision
    assert retries and set(retries) <= {200}
    assert not ProjectItem.objects.filter(project=project, open_slots__gt=0).exists()
