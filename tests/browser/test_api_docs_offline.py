"""The API's manual (Swagger UI and ReDoc) renders with every request off this server refused."""

from __future__ import annotations

import pytest

from tests.browser.conftest import login
from tests.factories import StaffFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _offline(page, origin: str) -> list[str]:
    """Abort every request that leaves the live server; return what was attempted."""
    attempted: list[str] = []

    def route(route) -> None:
        if route.request.url.startswith(origin):
            route.fallback()
        else:
            attempted.append(route.request.url)
            route.abort()

    page.route("**/*", route)
    return attempted


@pytest.mark.parametrize(
    ("path", "rendered"),
    [
        ("/api/docs/", ".swagger-ui .opblock-summary"),
        ("/api/redoc/", "[data-section-id^='operation/']"),
    ],
)
def test_api_manual_renders_offline(page, live_server, path, rendered):
    StaffFactory(username="docs-admin")
    attempted = _offline(page, live_server.url)
    login(page, "docs-admin")
    page.goto(path)
    page.wait_for_selector(rendered, timeout=30_000)
    assert page.locator(rendered).count() >= 20
    assert attempted == []
