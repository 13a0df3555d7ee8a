"""The access policy core asks for (`settings.ACCESS_POLICY`): roles come from memberships.

Every role question of the product goes through `memberships_of`, the one membership query
(`project_access` for API permissions and pages, `item_role` for item-level endpoints,
`visible_corpus_ids` for corpora); the queue and submit services lock the same row themselves.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from annotation.models import Project, ProjectItem, ProjectMembership
from core.access import ROLE_RANK, STAFF, ProjectAccess
from corpora.models import Item


def memberships_of(*, user: Any) -> QuerySet[ProjectMembership]:
    """The user's memberships: the one query every role check is built on."""
    return ProjectMembership.objects.filter(user_id=user.pk)


class MembershipAccessPolicy:
    """Roles from `ProjectMembership`; staff see everything."""

    def project_access(self, *, user: Any, project_id: int) -> ProjectAccess | None:
        if not user.is_authenticated:
            return None
        membership = (
            memberships_of(user=user)
            .select_related("project")
            .filter(project_id=project_id)
            .first()
        )
        if membership is not None:
            return ProjectAccess(
                project=membership.project, role=membership.role, staff=user.is_staff
            )
        if user.is_staff:
            project = Project.objects.filter(pk=project_id).first()
            if project is not None:
                return ProjectAccess(project=project, role=STAFF, staff=True)
        return None

    def item_role(self, *, user: Any, item_id: int) -> str | None:
        if not Item.objects.filter(pk=item_id).exists():
            return None
        if user.is_staff:
            return STAFF
        holders = ProjectItem.objects.filter(item_id=item_id).values("project_id")
        roles = (
            memberships_of(user=user).filter(project_id__in=holders).values_list("role", flat=True)
        )
        return max(roles, key=ROLE_RANK.__getitem__, default="")

    def visible_corpus_ids(self, *, user: Any) -> QuerySet | None:
        if user.is_staff:
            return None
        projects = memberships_of(user=user).values("project_id")
        return Project.corpora.through.objects.filter(project_id__in=projects).values("corpus_id")

    def corpus_readable(self, *, user: Any, corpus_id: int) -> bool:
        visible = self.visible_corpus_ids(user=user)
        return visible is None or visible.filter(corpus_id=corpus_id).exists()
