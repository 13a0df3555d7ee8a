"""People: accounts made by staff, signed single-use invitation links, deactivation, and
owners adding members in bulk (all or nothing)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient

from annotation.models import ProjectMembership
from annotation.services.projects import member_set, members_bulk_add, project_create
from core.models import ApiToken, Invitation
from core.services.tokens import token_create
from tests.factories import CorpusFactory, ItemFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.django_db
GOOD_PASSWORD = "a-long-enough-pass-42"


def _staff_client() -> tuple[APIClient, object]:
    staff = StaffFactory(username="admin")
    client = APIClient()
    client.default_format = "json"
    client.force_authenticate(staff)
    return client, staff


def _path(url: str) -> str:
    return "/" + url.split("://", 1)[-1].split("/", 1)[1]


def test_staff_create_an_account_and_the_invitee_sets_a_password_once(client):
    api, _ = _staff_client()
    created = api.post("/api/v1/users/", {"username": "maria", "email": "m@example.org"})
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["user"]["has_password"] is False and body["user"]["invitation"]["state"] == "open"
    assert body["invitation"]["emailed"] is False  # no mail server configured
    link = _path(body["invitation"]["url"])
    assert link.startswith("/invite/")
    maria = get_user_model().objects.get(username="maria")
    assert not maria.has_usable_password()

    page = client.get(link)
    assert page.status_code == 200 and "maria" in page.content.decode()
    mismatch = client.post(link, {"password": GOOD_PASSWORD, "password_again": "other"})
    assert mismatch.status_code == 400 and "differ" in mismatch.content.decode()
    weak = client.post(link, {"password": "123", "password_again": "123"})
    assert weak.status_code == 400
    done = client.post(link, {"password": GOOD_PASSWORD, "password_again": GOOD_PASSWORD})
    assert done.status_code == 302 and done["Location"] == "/"
    maria.refresh_from_db()
    assert maria.check_password(GOOD_PASSWORD)
    # signed in now; the link is used up
    assert client.get("/").status_code == 200
    again = client.get(link)
    assert again.status_code == 404 and "already used" in again.content.decode()
    users = {u["username"]: u for u in api.get("/api/v1/users/").json()}
    assert users["maria"]["invitation"]["state"] == "used" and users["maria"]["has_password"]


def test_a_tampered_expired_or_replaced_link_does_not_work(client):
    api, _ = _staff_client()
    body = api.post("/api/v1/users/", {"username": "jo"}).json()
    link = _path(body["invitation"]["url"])
    assert client.get(link[:-3] + "xx/").status_code == 404
    # a new link replaces the old one
    newer = api.post(f"/api/v1/users/{body['user']['id']}/invitations/")
    assert newer.status_code == 201
    old = client.get(link)
    assert old.status_code == 404 and "not valid" in old.content.decode()
    fresh = _path(newer.json()["url"])
    assert client.get(fresh).status_code == 200
    Invitation.objects.filter(revoked_at=None).update(expires_at=timezone.now() - timedelta(1))
    expired = client.post(fresh, {"password": GOOD_PASSWORD, "password_again": GOOD_PASSWORD})
    assert expired.status_code == 404 and "expired" in expired.content.decode()
    assert not get_user_model().objects.get(username="jo").has_usable_password()


def test_the_link_is_emailed_only_when_configured(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    api, _ = _staff_client()
    api.post("/api/v1/users/", {"username": "quiet", "email": "q@example.org"})
    assert len(mail.outbox) == 0
    settings.ARBITER_INVITE_EMAIL = True
    body = api.post("/api/v1/users/", {"username": "sam", "email": "sam@example.org"}).json()
    assert body["invitation"]["emailed"] is True
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["sam@example.org"]
    assert body["invitation"]["url"] in mail.outbox[0].body


def test_bad_or_taken_usernames_are_refused():
    api, _ = _staff_client()
    UserFactory(username="Taken", email="t@example.org")
    assert api.post("/api/v1/users/", {"username": "taken"}).status_code == 409
    assert (
        api.post("/api/v1/users/", {"username": "x", "email": "T@example.org"}).status_code == 409
    )
    bad = api.post("/api/v1/users/", {"username": "no spaces!"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_username"
    assert api.post("/api/v1/users/", {"username": "y", "email": "nope"}).status_code == 400
    assert not get_user_model().objects.filter(username__in=["x", "y"]).exists()


def test_deactivation_ends_sign_in_tokens_and_links_but_not_yourself(client):
    api, staff = _staff_client()
    user = UserFactory(username="leaver")
    token_create(user=user, name="ci")
    link = _path(api.post(f"/api/v1/users/{user.pk}/invitations/").json()["url"])
    r = api.post(f"/api/v1/users/{user.pk}/active/", {"is_active": False}, format="json")
    assert r.status_code == 200 and r.json()["is_active"] is False
    assert not ApiToken.objects.filter(user=user).exists()
    assert client.get(link).status_code == 404
    assert not client.login(username="leaver", password="pass-word-123")
    me = api.post(f"/api/v1/users/{staff.pk}/active/", {"is_active": False}, format="json")
    assert me.status_code == 400 and me.json()["error"]["code"] == "cannot_deactivate_self"
    back = api.post(f"/api/v1/users/{user.pk}/active/", {"is_active": True}, format="json")
    assert back.json()["is_active"] is True
    assert client.login(username="leaver", password="pass-word-123")


def test_the_people_page_is_for_staff(client):
    client.force_login(UserFactory())
    assert client.get("/people/").status_code == 403
    client.force_login(StaffFactory())
    body = client.get("/people/").content.decode()
    assert "Invite someone" in body and "people.js" in body


@pytest.fixture
def project():
    corpus = CorpusFactory()
    ItemFactory.create_batch(2, corpus=corpus)
    return project_create(name="bulk", corpora=[corpus], created_by=StaffFactory(username="o"))


def test_owners_add_members_in_bulk_by_username_or_email(project):
    UserFactory(username="ann", email="ann@example.org")
    UserFactory(username="Bob", email="")
    UserFactory(username="cy", email="cy@example.org")
    members_bulk_add(project=project, text="ann\n  bob ,CY@example.org\n\n", role="reviewer")
    roles = dict(
        ProjectMembership.objects.filter(project=project).values_list("user__username", "role")
    )
    assert roles == {"o": "owner", "ann": "reviewer", "Bob": "reviewer", "cy": "reviewer"}


def test_bulk_add_is_all_or_nothing_with_errors_per_line(project):
    UserFactory(username="ann")
    UserFactory(username="dup1", email="same@example.org")
    UserFactory(username="dup2", email="same@example.org")
    UserFactory(username="gone", is_active=False)
    from core.errors import DomainError

    with pytest.raises(DomainError) as caught:
        members_bulk_add(
            project=project, text="ann\nnobody\nsame@example.org\ngone", role="annotator"
        )
    lines = caught.value.details["lines"]
    assert [(e["line"], e["value"]) for e in lines] == [
        (2, "nobody"),
        (3, "same@example.org"),
        (4, "gone"),
    ]
    assert "Nobody was added" in caught.value.message
    assert not ProjectMembership.objects.filter(project=project, user__username="ann").exists()


def test_bulk_add_api_for_owners(project):
    owner = UserFactory(username="own")
    member_set(project=project, user_id=owner.pk, role="owner")
    UserFactory(username="ann")
    client = APIClient()
    client.force_authenticate(owner)
    url = f"/api/v1/projects/{project.pk}/members/bulk/"
    bad = client.post(url, {"people": "ann\nghost", "role": "annotator"}, format="json")
    assert bad.status_code == 400
    assert bad.json()["error"]["details"]["lines"] == [
        {"line": 2, "value": "ghost", "message": "No such user."}
    ]
    good = client.post(url, {"people": "ann", "role": "annotator"}, format="json")
    assert good.status_code == 200
    assert {m["username"] for m in good.json()} >= {"own", "ann"}
