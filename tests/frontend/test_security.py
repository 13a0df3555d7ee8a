"""Pages hold no inline script, send a Content-Security-Policy, and Markdown can't carry script
(SQLite, no browser; the browser suite in tests/browser/test_xss.py runs the payloads)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.urls import reverse

from frontend.views import render_markdown
from tests.factories import StaffFactory

TEMPLATES = Path(__file__).resolve().parents[2] / "frontend" / "templates"
# An inline <script> is one without src; JSON data blocks (json_script) are not script.
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.I)
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.I)


@pytest.mark.parametrize("template", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: p.name)
def test_no_template_has_inline_script_or_handler(template: Path) -> None:
    source = template.read_text()
    assert not INLINE_SCRIPT.findall(source), "inline <script>: move it into a module"
    assert not INLINE_HANDLER.findall(source), "inline event handler: use addEventListener"
    assert "|safe" not in source and "autoescape off" not in source


@pytest.mark.parametrize(
    "source",
    [
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "[x](java&#115;cript:alert(1))",
        "[x]( javascript:alert(1))",
        "[x](data:text/html,<script>alert(1)</script>)",
        "[x](vbscript:msgbox)",
        "[x](//evil.example/)",
        "![i](javascript:alert(1))",
        '<a href="javascript:alert(1)">x</a>',
        "<img src=x onerror=alert(1)>",
    ],
)
def test_markdown_never_renders_a_script_link(source: str) -> None:
    html = str(render_markdown(source))
    assert not re.search(r"<a\b[^>]*\bhref", html)
    assert "<img" not in html and "<script" not in html


def test_markdown_keeps_safe_links_and_formatting() -> None:
    html = str(render_markdown("**b** [site](https://example.org/a) [m](mailto:a@example.org)"))
    assert "<strong>b</strong>" in html
    assert '<a href="https://example.org/a" rel="noopener noreferrer">site</a>' in html
    assert 'href="mailto:a@example.org"' in html


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["home", "corpora", "project-create", "login"])
def test_pages_send_a_strict_content_security_policy(client, name: str) -> None:
    client.force_login(StaffFactory())
    policy = client.get(reverse(name))["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["script-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"


@pytest.mark.django_db
def test_api_docs_are_served_from_our_own_files_under_the_same_policy(client) -> None:
    client.force_login(StaffFactory())
    home_policy = client.get(reverse("home"))["Content-Security-Policy"]
    for url in ("/api/docs/", "/api/redoc/"):
        docs = client.get(url)
        assert docs.status_code == 200
        assert docs["Content-Security-Policy"] == home_policy
        page = docs.content.decode()
        assert "<script>" not in page  # no inline script: initialisers are script files
        assert "cdn." not in page and "https://" not in page.split("</head>")[0]
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()
