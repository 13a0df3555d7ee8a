"""Items imported into a corpus after a project took it do not join the project by themselves;
the project page says so plainly and the owner adds them (API and dashboard)."""

from __future__ import annotations

import pytest

from annotation.models import ProjectItem
from annotation.services.projects import member_set, project_create, project_update
from corpora.services.items import corpus_items_upsert
from tests.engine.conftest import client_for
from tests.factories import CorpusFactory, ItemFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def setting():
    staff = StaffFactory()
    corpus = CorpusFactory()
    ItemFactory.create_batch(2, corpus=corpus, category="detail")
    project = project_create(name="p", corpora=[corpus], created_by=staff, overlap=2)
    owner, reviewer = UserFactory(username="owner"), UserFactory(username="reviewer")
    member_set(project=project, user_id=owner.pk, role="owner")
    member_set(project=project, user_id=reviewer.pk, role="reviewer")
    return {"corpus": corpus, "project": project, "owner": owner, "reviewer": reviewer}


def _import_later(corpus, n: int, category: str = "detail") -> None:
    ItemFactory.create_batch(n, corpus=corpus, category=category)


def test_items_imported_later_wait_outside_the_project_until_the_owner_adds_them(setting):
    project, corpus = setting["project"], setting["corpus"]
    url = f"/api/v1/projects/{project.pk}/items/missing/"
    owner = client_for(setting["owner"])
    assert owner.get(url).json() == {"missing": 0}
    # when: three items reach the corpus later
    _import_later(corpus, 3)
    # then: they are not in the project (no queue for them), and the project says how many
    assert ProjectItem.objects.filter(project=project).count() == 2
    assert client_for(setting["reviewer"]).get(url).json() == {"missing": 3}
    assert client_for(setting["reviewer"]).post(url).status_code == 403
    # when the owner adds them: in the project with the project's overlap, once
    assert owner.post(url).json() == {"added": 3}
    assert owner.post(url).json() == {"added": 0}
    rows = ProjectItem.objects.filter(project=project)
    assert rows.count() == 5 and set(rows.values_list("open_slots", flat=True)) == {2}
    assert owner.get(url).json() == {"missing": 0}


def test_the_category_filter_holds_for_items_imported_later(setting):
    project, corpus = setting["project"], setting["corpus"]
    project_update(project=project, category_filter=["detail"])
    _import_later(corpus, 2, category="conversation")
    _import_later(corpus, 1, category="detail")
    url = f"/api/v1/projects/{project.pk}/items/missing/"
    assert client_for(setting["owner"]).get(url).json() == {"missing": 1}


def test_an_upsert_into_the_corpus_is_seen_as_missing(setting):
    # the corpus's own write path (corpora knows nothing of projects)
    corpus_items_upsert(
        corpus=setting["corpus"],
        records=[
            {
                "external_id": "late-1",
                "category": "detail",
                "conversations": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}],
            }
        ],
    )
    url = f"/api/v1/projects/{setting['project'].pk}/items/missing/"
    assert client_for(setting["owner"]).get(url).json() == {"missing": 1}


def test_the_dashboard_says_plainly_and_offers_to_add_them(client, setting):
    project = setting["project"]
    client.force_login(setting["owner"])
    page = client.get(f"/projects/{project.pk}/").content.decode()
    assert "not in this project" not in page and "add-missing-items" not in page
    _import_later(setting["corpus"], 4)
    page = client.get(f"/projects/{project.pk}/").content.decode()
    assert "4 items of this project's corpora are not in this project." in page
    assert "do not join the project by themselves" in page
    assert 'data-action="add-missing-items">Add 4 items to this project</button>' in page
