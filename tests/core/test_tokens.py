"""API tokens: hashed at rest, shown once, expiring, revocable, revoked by any password change;
the token endpoint throttled per client address; a username locked after repeated failures."""

from __future__ import annotations

import getpass
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from core.models import ApiToken
from core.services.tokens import token_create
from core.tokens import token_digest
from tests.factories import StaffFactory, UserFactory

PASSWORD = "pass-word-123"
TOKEN_URL = "/api/v1/auth/token/"
TOKENS_URL = "/api/v1/auth/tokens/"


@pytest.fixture
def alice(db):
    return UserFactory(username="alice")


def sign_in(client: APIClient, username: str = "alice", password: str = PASSWORD, **extra):
    return client.post(
        TOKEN_URL, {"username": username, "password": password, **extra}, format="json"
    )


def with_token(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client


def works(secret: str) -> bool:
    status = with_token(secret).get(TOKENS_URL).status_code
    assert status in (200, 401)
    return status == 200


# --- made, stored, listed ------------------------------------------------------------------------


def test_a_token_is_shown_once_and_only_its_digest_is_stored(alice):
    # when
    response = sign_in(APIClient(), name="labelling script")
    # then
    assert response.status_code == 201
    body = response.json()
    secret = body["token"]
    assert len(secret) >= 40 and body["name"] == "labelling script"
    assert body["prefix"] == secret[:8]
    row = ApiToken.objects.get(pk=body["id"])
    assert row.digest == token_digest(secret) and secret not in {row.digest, row.prefix}
    expires = timezone.now() + timedelta(days=30)
    assert abs((row.expires_at - expires).total_seconds()) < 60
    assert works(secret)


def test_the_list_shows_my_working_tokens_never_a_secret(alice):
    mine, secret = token_create(user=alice, name="laptop")
    token_create(user=UserFactory(username="bob"))
    expired, _ = token_create(user=alice, name="old")
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(1))
    listed = with_token(secret).get(TOKENS_URL).json()
    assert [t["id"] for t in listed] == [mine.pk]
    assert set(listed[0]) == {"id", "name", "prefix", "created", "expires_at"}
    assert secret not in str(listed)


def test_token_lifetime_comes_from_the_setting(alice, settings):
    settings.ARBITER_TOKEN_TTL_DAYS = 2
    token, _ = token_create(user=alice)
    assert timedelta(days=2) - (token.expires_at - timezone.now()) < timedelta(minutes=1)


def test_a_user_holds_at_most_the_maximum_the_oldest_go(alice, settings):
    settings.ARBITER_TOKEN_MAX_PER_USER = 3
    secrets = [token_create(user=alice)[1] for _ in range(4)]
    assert ApiToken.objects.filter(user=alice).count() == 3
    assert not works(secrets[0])
    assert all(works(s) for s in secrets[1:])


def test_the_old_plain_text_token_table_is_gone(db):
    assert "authtoken_token" not in connection.introspection.table_names()


# --- refused --------------------------------------------------------------------------------------


def test_an_expired_token_is_refused(alice):
    token, secret = token_create(user=alice)
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = with_token(secret).get(TOKENS_URL)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_a_token_of_an_inactive_user_is_refused(alice):
    _, secret = token_create(user=alice)
    alice.is_active = False
    alice.save()
    assert not works(secret)


def test_wrong_and_digest_as_token_are_refused(alice):
    token, secret = token_create(user=alice)
    assert not works(secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    assert not works(token.digest)  # a stolen database row is not a token


# --- revoked --------------------------------------------------------------------------------------


def test_delete_revokes_the_token_of_the_request_only(alice):
    _, first = token_create(user=alice)
    _, second = token_create(user=alice)
    assert with_token(first).delete(TOKEN_URL).status_code == 204
    assert not works(first) and works(second)


def test_delete_by_id_revokes_my_token_but_not_anothers(alice):
    mine, secret = token_create(user=alice)
    other, _ = token_create(user=alice)
    theirs, their_secret = token_create(user=UserFactory(username="bob"))
    client = with_token(secret)
    assert client.delete(f"{TOKENS_URL}{theirs.pk}/").status_code == 404
    assert works(their_secret)
    assert client.delete(f"{TOKENS_URL}{other.pk}/").status_code == 204
    assert not ApiToken.objects.filter(pk=other.pk).exists()
    assert client.delete(f"{TOKENS_URL}{other.pk}/").json()["error"]["code"] == "not_found"


def test_set_password_and_save_revokes_every_token(alice):
    secrets = [token_create(user=alice)[1] for _ in range(2)]
    alice.set_password("a-new-password-456")
    alice.save()
    assert not any(works(s) for s in secrets)
    # a token made after the change works, and the list no longer shows the old ones
    _, fresh = token_create(user=alice)
    assert works(fresh) and len(with_token(fresh).get(TOKENS_URL).json()) == 1


def test_changepassword_command_revokes_every_token(alice, monkeypatch):
    _, secret = token_create(user=alice)
    # changepassword reads the new password twice from the terminal
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": "a-new-password-456")
    call_command("changepassword", "alice", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert not works(secret)


def test_the_admin_password_form_revokes_every_token(alice, client):
    _, secret = token_create(user=alice)
    client.force_login(StaffFactory(username="root", is_superuser=True))
    response = client.post(
        f"/admin/auth/user/{alice.pk}/password/",
        {"password1": "a-new-password-456", "password2": "a-new-password-456"},
    )
    assert response.status_code == 302, response.content[:500]
    assert not works(secret)


def test_an_unusable_password_revokes_every_token(alice):
    _, secret = token_create(user=alice)
    alice.set_unusable_password()
    alice.save()
    assert not works(secret)


# --- throttled and locked -------------------------------------------------------------------------


def test_the_token_endpoint_is_throttled_per_client_address(alice):
    client = APIClient()
    statuses = [
        sign_in(client, username=f"user{i}", password="wrong").status_code for i in range(10)
    ]
    assert statuses == [400] * 10
    response = sign_in(client)  # the right password too
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"
    assert "Retry-After" in response
    # another address is not throttled
    assert sign_in(APIClient(REMOTE_ADDR="10.1.2.3")).status_code == 201


def test_five_failures_lock_the_username_and_the_right_password_waits(alice):
    for i in range(5):
        response = sign_in(APIClient(REMOTE_ADDR=f"10.0.0.{i}"), password="wrong")
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_credentials"
    locked = sign_in(APIClient(REMOTE_ADDR="10.0.1.1"))
    assert locked.status_code == 429
    error = locked.json()["error"]
    assert error["code"] == "too_many_attempts" and "15 minutes" in error["message"]
    assert not ApiToken.objects.exists()


def test_a_locked_unknown_username_reads_like_a_known_one(alice):
    answers = {}
    for username in ("alice", "nobody"):
        for i in range(6):
            response = sign_in(APIClient(REMOTE_ADDR=f"10.0.{len(answers)}.{i}"), username, "wrong")
        answers[username] = (response.status_code, response.json())
    assert answers["alice"] == answers["nobody"]
    assert answers["alice"][0] == 429


def test_a_success_ends_the_run_of_failures(alice, settings):
    settings.ARBITER_SIGNIN_LOCKOUT_FAILURES = 3
    address = iter(f"10.0.0.{i}" for i in range(20))
    for _ in range(2):
        assert sign_in(APIClient(REMOTE_ADDR=next(address)), password="x").status_code == 400
    assert sign_in(APIClient(REMOTE_ADDR=next(address))).status_code == 201
    for _ in range(2):
        assert sign_in(APIClient(REMOTE_ADDR=next(address)), password="x").status_code == 400
    assert sign_in(APIClient(REMOTE_ADDR=next(address))).status_code == 201


def test_the_lock_ends_after_its_minutes(alice, settings):
    from django.core.cache import cache

    from core.services.signin import _key

    settings.ARBITER_SIGNIN_LOCKOUT_FAILURES = 1
    assert sign_in(APIClient(), password="wrong").status_code == 400
    assert sign_in(APIClient(REMOTE_ADDR="10.9.9.9")).status_code == 429
    cache.delete(_key("locked", "alice"))  # what the cache does after the lock's timeout
    assert sign_in(APIClient(REMOTE_ADDR="10.9.9.8")).status_code == 201


# --- the login page -------------------------------------------------------------------------------


def login(client, username: str = "alice", password: str = PASSWORD):
    return client.post("/login/", {"username": username, "password": password})


def test_the_login_page_locks_a_username_after_failures(alice, client):
    for i in range(5):
        page = login(client.__class__(REMOTE_ADDR=f"10.0.0.{i}"), password="wrong")
        assert page.status_code == 200 and b"did not match" in page.content
    page = login(client)
    assert page.status_code == 429
    assert b"Too many failed sign-in attempts" in page.content
    assert "_auth_user_id" not in client.session
    # the API's token endpoint shares the lock
    assert sign_in(APIClient(REMOTE_ADDR="10.0.3.3")).status_code == 429


def test_the_login_page_rate_per_address_and_username(alice, client, settings):
    settings.ARBITER_SIGNIN_LOCKOUT_FAILURES = 1000
    settings.ARBITER_LOGIN_RATE_PER_MINUTE = 3
    assert [login(client, password="wrong").status_code for _ in range(3)] == [200] * 3
    page = login(client)
    assert page.status_code == 429 and b"Wait a minute" in page.content
    # another address, or another username from this one, is not held back
    assert login(client.__class__(REMOTE_ADDR="10.7.7.7")).status_code == 302
    assert login(client, username="nobody").status_code == 200


def test_the_login_page_reads_the_same_for_unknown_usernames(alice, client):
    pages = {}
    for username in ("alice", "nobody"):
        for i in range(6):
            page = login(client.__class__(REMOTE_ADDR=f"10.{len(pages)}.0.{i}"), username, "x")
        pages[username] = (page.status_code, page.content.replace(username.encode(), b""))
    assert pages["alice"][0] == pages["nobody"][0] == 429
    assert b"Too many failed" in pages["nobody"][1]


def test_a_successful_page_login_ends_the_run_of_failures(alice, client, settings):
    settings.ARBITER_SIGNIN_LOCKOUT_FAILURES = 3
    for _ in range(2):
        login(client, password="wrong")
    assert login(client).status_code == 302
    client.logout()
    for _ in range(2):
        login(client, password="wrong")
    assert login(client).status_code == 302
