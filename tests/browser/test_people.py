"""People in the browser: staff invite someone, the invitee sets a password from the link and
is signed in; an owner pastes many members, fixes the line that names nobody, adds them all."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from annotation.models import ProjectMembership
from tests.browser.conftest import login, shot
from tests.browser.data import PASSWORD, seed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
NEW_PASSWORD = "a-long-enough-pass-42"


def test_staff_invite_and_the_invitee_sets_a_password(page, browser, live_server, tmp_path):
    data = seed(tmp_path, n_items=4)
    login(page, data["owner"].username)
    page.goto("/people/")
    page.get_by_label("Username").fill("maria")
    page.get_by_label("E-mail (optional)").fill("maria@example.org")
    page.get_by_role("button", name="Create and get link").click()
    url_box = page.locator("#invite-url")
    url_box.wait_for()
    page.wait_for_function("() => document.querySelector('#invite-url').value.includes('/invite/')")
    link = url_box.input_value()
    row = page.locator('#people tr[data-user="maria"]')
    row.wait_for()
    assert "invited" in row.inner_text()
    shot(page, "people-invite")

    # the invitee, in a browser of their own
    other = browser.new_context(base_url=live_server.url)
    invitee = other.new_page()
    invitee.goto(link)
    invitee.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    invitee.get_by_label("Password again").fill("something else")
    invitee.get_by_role("button", name="Set password and sign in").click()
    invitee.get_by_text("The two passwords differ.").wait_for()
    invitee.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    invitee.get_by_label("Password again").fill(NEW_PASSWORD)
    invitee.get_by_role("button", name="Set password and sign in").click()
    invitee.wait_for_url(f"{live_server.url}/")
    assert "maria" in invitee.locator("header").inner_text()
    invitee.goto(link)
    assert "already used" in invitee.content()
    other.close()
    assert get_user_model().objects.get(username="maria").check_password(NEW_PASSWORD)

    page.reload()
    row = page.locator('#people tr[data-user="maria"]')
    row.wait_for()
    assert "active" in row.inner_text()
    page.on("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Deactivate").click()
    page.wait_for_function(
        "() => document.querySelector('#people tr[data-user=\"maria\"]')"
        "?.innerText.includes('deactivated')"
    )
    assert not get_user_model().objects.get(username="maria").is_active


def test_an_owner_adds_members_in_bulk(page, tmp_path):
    data = seed(tmp_path, n_items=4)
    project = data["project"]
    User = get_user_model()
    User.objects.create_user("kim", email="kim@example.org", password=PASSWORD)
    User.objects.create_user("lee", password=PASSWORD)
    login(page, data["owner"].username)
    page.goto(f"/projects/{project.pk}/edit/")
    page.locator("#members-bulk summary").click()
    page.get_by_label("Usernames or e-mail addresses, one per line").fill(
        "kim@example.org\nnobody-here\nlee"
    )
    page.locator("#bulk-role").select_option("reviewer")
    page.get_by_role("button", name="Add all").click()
    error = page.locator('#bulk-errors li[data-line="2"]')
    error.wait_for()
    assert "nobody-here" in error.inner_text() and "No such user" in error.inner_text()
    assert not ProjectMembership.objects.filter(project=project, user__username="kim").exists()
    shot(page, "members-bulk-error")
    page.get_by_label("Usernames or e-mail addresses, one per line").fill("kim@example.org\nlee")
    page.get_by_role("button", name="Add all").click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('#members tr')]"
        ".some((r) => r.innerText.includes('lee'))"
    )
    roles = dict(
        ProjectMembership.objects.filter(project=project).values_list("user__username", "role")
    )
    assert roles["kim"] == "reviewer" and roles["lee"] == "reviewer"
