"""Who may see and do what in a project: the one access rule, as an interface.

`core` knows no project, membership or corpus model (it imports no domain app), yet the API
permission classes (`core.api.permissions`), the page helper (`frontend.access`) and corpus
visibility all need the same answer to "what is this user's role in project N?". So core defines
the question here and the app that owns memberships answers it: `settings.ACCESS_POLICY` names the
implementation (`annotation.access.MembershipAccessPolicy`), loaded once, like
`AUTH_USER_MODEL`. A setting rather than an `AppConfig.ready()` registration: the wiring is
visible in one place, and nothing depends on app start-up order.

Rules: owner > reviewer > annotator; staff rank above every role in every project (role "staff"
when not a member); strangers have no role (None), which callers answer like a missing project.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from django.conf import settings
from django.db.models import QuerySet
from django.utils.module_loading import import_string

ANNOTATOR, REVIEWER, OWNER, STAFF = "annotator", "reviewer", "owner", "staff"
ROLE_RANK = {ANNOTATOR: 1, REVIEWER: 2, OWNER: 3, STAFF: 4}


def role_at_least(role: str | None, min_role: str) -> bool:
    """Whether `role` (None: no role) may do what needs `min_role`."""
    return role is not None and ROLE_RANK[role] >= ROLE_RANK[min_role]


@dataclass(frozen=True)
class ProjectAccess:
    project: Any  # the owning app's Project; core does not know its type
    role: str  # the membership role, or "staff" for staff who are not members
    staff: bool = False

    def allows(self, min_role: str) -> bool:
        return self.staff or role_at_least(self.role, min_role)


class AccessPolicy(Protocol):
    def project_access(self, *, user: Any, project_id: int) -> ProjectAccess | None:
        """The project and the user's role, or None when it is missing or the user a stranger
        (one query for members, two for staff non-members)."""

    def item_role(self, *, user: Any, item_id: int) -> str | None:
        """The user's best role over the projects that hold the item ("" when none, None when
        the item does not exist)."""

    def visible_corpus_ids(self, *, user: Any) -> QuerySet | None:
        """Ids of the corpora the user may see (a subquery), or None for all (staff)."""

    def corpus_readable(self, *, user: Any, corpus_id: int) -> bool:
        """Whether the user may read the corpus (one of `visible_corpus_ids`, or staff)."""


@cache
def access_policy() -> AccessPolicy:
    return import_string(settings.ACCESS_POLICY)()
