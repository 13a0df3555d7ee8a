"""Pages render for the right people and refuse the others (SQLite, no browser)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from annotation.models import ProjectMembership
from annotation.services.projects import member_set, project_create
from corpora.models import Item
from tests.access_world import build_world, user_for, walk
from tests.factories import CorpusFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def project():
    corpus = CorpusFactory()
    Item.objects.create(
        corpus=corpus,
        external_id="1",
        conversations=[{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}],
        content_hash="x",
    )
    owner = StaffFactory(username="owner")
    return project_create(
        name="P",
        corpora=[corpus],
        created_by=owner,
        instructions="**Be careful** <script>x</script>",
    )


def _member(project, role: str):
    user = UserFactory()
    member_set(project=project, user_id=user.pk, role=role)
    return user


def test_anonymous_is_sent_to_login(client, project):
    response = client.get(reverse("project-annotate", args=[project.pk]))
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert client.get("/").status_code == 302


def test_login_page_renders_and_logs_in(client):
    UserFactory(username="ann")
    assert b"Log in to Arbiter" in client.get("/login/").content
    response = client.post("/login/", {"username": "ann", "password": "pass-word-123"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.post("/logout/").status_code == 302


def test_home_lists_my_projects_only(client, project):
    annotator = _member(project, ProjectMembership.Role.ANNOTATOR)
    stranger = UserFactory()
    client.force_login(annotator)
    body = client.get("/").content.decode()
    assert "P" in body and "Start annotating" in body and "Dashboard" not in body
    client.force_login(stranger)
    assert "Start annotating" not in client.get("/").content.decode()


# page route -> the least role that opens it; every page of a project is in this table.
PAGE_ROLES = {
    "projects/<int:project_id>/annotate/": "annotator",
    "projects/<int:project_id>/review/": "reviewer",
    "projects/<int:project_id>/reward-models/": "reviewer",
    "projects/<int:project_id>/curation/": "reviewer",
    "projects/<int:project_id>/judge/": "reviewer",
    "reward-models/<int:run_id>/": "reviewer",
    "datasets/<int:dataset_id>/rewrites/<int:rewrite_id>/review/": "reviewer",
    "projects/<int:project_id>/": "owner",
    "projects/<int:project_id>/edit/": "owner",
    "projects/<int:project_id>/items/": "reviewer",
    "datasets/<int:dataset_id>/items/": "reviewer",
    # a corpus and its items are read by the members of a project holding it
    "corpora/<int:corpus_id>/items/": "annotator",
    "items/<int:item_id>/": "annotator",
}
RANK = {"stranger": 0, "annotator": 1, "reviewer": 2, "owner": 3, "staff": 4}


def _page_routes():
    return {
        r.path: r
        for r in walk()
        if not r.path.startswith(("api/", "admin/", "media/"))
        and any(
            f"<int:{key}>" in r.path
            for key in ("project_id", "run_id", "dataset_id", "corpus_id", "item_id")
        )
    }


def test_every_project_page_is_in_the_matrix():
    assert set(_page_routes()) == set(PAGE_ROLES)


@pytest.mark.parametrize("role", list(RANK))
@pytest.mark.parametrize("path", list(PAGE_ROLES))
def test_permission_matrix(client, path, role):
    # given the world's project and a user holding `role` in it
    world = build_world()
    client.force_login(user_for(world, role))
    # when the user opens the page
    response = client.get(_page_routes()[path].url(**world.ids()))
    # then members with the role (and staff) get it; everyone else the 404 of a missing project
    assert response.status_code == (200 if RANK[role] >= RANK[PAGE_ROLES[path]] else 404)


@pytest.mark.parametrize("path", list(PAGE_ROLES))
def test_forbidden_and_missing_projects_answer_the_same(client, path):
    world = build_world()
    client.force_login(user_for(world, "annotator"))
    routes = _page_routes()
    missing = {k: v + 1000 for k, v in world.ids().items()}
    forbidden = client.get(routes["projects/<int:project_id>/edit/"].url(**world.ids()))
    absent = client.get(routes[path].url(**missing))
    assert forbidden.status_code == absent.status_code
    assert _without_csrf(forbidden.content) == _without_csrf(absent.content)


def test_staff_pages(client, project):
    client.force_login(UserFactory())
    assert client.get(reverse("corpora")).status_code == 403
    assert client.get(reverse("project-create")).status_code == 403
    client.force_login(StaffFactory())
    assert b"Import a corpus" in client.get(reverse("corpora")).content
    body = client.get(reverse("project-create")).content.decode()
    assert "Rubric preset" in body and "instruction_quality" in body


def test_workspace_shell_has_keys_and_escaped_instructions(client, project):
    client.force_login(_member(project, "annotator"))
    body = client.get(reverse("project-annotate", args=[project.pk])).content.decode()
    assert 'id="ws-config"' in body and "workspace.js" in body
    assert "<strong>Be careful</strong>" in body
    assert "<script>x</script>" not in body and "&lt;script&gt;" in body
    for label in ("Submit", "Skip", "Postpone", "Undo last"):
        assert label in body
    assert 'id="health"' in body


def test_dashboard_has_room_for_reward_models_and_curation(client, project):
    client.force_login(project.created_by)
    body = client.get(reverse("project-dashboard", args=[project.pk])).content.decode()
    assert 'id="reward-model-runs"' in body and 'id="curation"' in body
    assert "js/Chart.min.js" in body


def test_unknown_project_is_404(client):
    client.force_login(StaffFactory())
    assert client.get(reverse("project-annotate", args=[999])).status_code == 404


def test_not_found_and_not_allowed_pages_say_what_to_ask_for(client):
    user = UserFactory(username="asker")
    client.force_login(user)
    missing = client.get(reverse("project-annotate", args=[999]))
    assert missing.status_code == 404
    body = missing.content.decode()
    assert "ask that project's owner to add <strong>asker</strong>" in body
    assert 'class="site-header"' in body  # the product's page, not the server's bare one
    forbidden = client.get(reverse("corpora"))
    assert forbidden.status_code == 403
    assert "ask an Arbiter administrator for staff access" in forbidden.content.decode()


def _without_csrf(body: bytes) -> bytes:
    # The masked CSRF token differs on every render; nothing else may.
    return re.sub(
        rb'(name="csrf-token" content|name="csrfmiddlewaretoken" value)="[^"]*"', b"", body
    )
