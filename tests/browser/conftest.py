"""Playwright (Python) driving Debian's Chromium against pytest-django's live server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; Django's ORM calls made by the test
# itself (seeding, assertions) are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed: run scripts/ensure-services.sh")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def _urls_loaded() -> None:
    """Import the URLconf (and everything the API imports) once, before the first page load, so
    no test's first request pays for heavy imports inside a page timeout."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018


@pytest.fixture
def page(browser, live_server, settings, _urls_loaded):
    # Tests sign the same users in again and again from one address within a minute; the login
    # page's rate (tests/core/test_tokens.py) is not what they test.
    settings.ARBITER_LOGIN_RATE_PER_MINUTE = 10_000
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    media = Path(settings.MEDIA_ROOT)

    # The /media/ view reads MEDIA_ROOT as it was at import time; tests keep media in a temporary
    # folder, so the browser's image requests are answered from there.
    def serve_media(route) -> None:
        relative = route.request.url.split("/media/", 1)[1].split("?")[0]
        target = media / relative
        if target.is_file():
            route.fulfill(path=str(target))
        else:
            route.fulfill(status=404, body="not found")

    page.route("**/media/**", serve_media)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors
    yield page
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


def login(page, username: str, password: str = "pass-word-123") -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/")


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
