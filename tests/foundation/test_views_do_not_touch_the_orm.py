"""API views, page views and the `curate` command neither query nor write the ORM: reads go
through selectors, writes through services. A grep, so that a shortcut can't creep back in."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VIEW_FILES = sorted(
    [
        *ROOT.glob("*/api/*.py"),
        *ROOT.glob("frontend/*views*.py"),
        ROOT / "curation/management/commands/curate.py",
    ]
)
# A manager (`Model.objects.`), Django's shortcut, or a related manager queried from an
# instance (`project.memberships.filter(`, `run.steps.values_list(`).
ORM = re.compile(
    r"\.objects\.|get_object_or_404|get_list_or_404"
    r"|\.[a-z_]+\.(all|filter|exclude|values|values_list|select_related|prefetch_related"
    r"|order_by|count|exists|first|last|aggregate|annotate|get_or_create|update_or_create"
    r"|bulk_create|delete)\("
)


def test_the_checked_files_exist():
    names = {str(p.relative_to(ROOT)) for p in VIEW_FILES}
    assert {"annotation/api/projects.py", "frontend/views.py", "corpora/api/corpora.py"} <= names
    assert len(VIEW_FILES) >= 15


def test_views_neither_query_nor_write_the_orm():
    hits = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in VIEW_FILES
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if ORM.search(line)
    ]
    assert hits == [], "move these into selectors (reads) or services (writes):\n" + "\n".join(hits)


def test_the_grep_catches_what_it_is_for():
    for line in (
        "Corpus.objects.filter(pk=1)",
        "get_object_or_404(Project, pk=1)",
        'project.memberships.select_related("user")',
        'run.steps.values_list("step")',
    ):
        assert ORM.search(line), line
    for line in ("request.query_params.get('x')", "data.validated_data['items']"):
        assert not ORM.search(line), line
