"""Why an annotator's queue is empty, and the project's progress as the annotator sees it.

The workspace asks this when `next` has nothing for the caller, and after each submit so that
its status line moves. The answer separates a finished project from one that waits on other
people: items leased to others right now (they come back if a lease lapses) and items the
caller has answered that still need other annotators' answers to reach the project's overlap.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Exists, F, Min, OuterRef, Q
from django.utils import timezone

from annotation.models import Annotation, Assignment, Project, ProjectItem

# What the workspace says, in order of precedence.
COMPLETE = "complete"  # every item has all the answers the project asks for
AVAILABLE = "available"  # there is work the caller could take now
LEASED_BY_OTHERS = "leased_by_others"  # open work exists but others hold it
WAITING_FOR_OTHERS = "waiting_for_others"  # the caller's part is done; others' is not


def project_queue_status(*, project: Project, user) -> dict[str, Any]:
    """Progress and the state of the caller's queue (six small queries, no per-item work)."""
    now = timezone.now()
    items = ProjectItem.objects.filter(project=project, is_gold=False)
    mine = Assignment.objects.filter(project_item=OuterRef("pk"), user=user)
    answered = mine.filter(status=Assignment.Status.SUBMITTED)
    others_live = Assignment.objects.filter(
        project_item=OuterRef("pk"), status=Assignment.Status.LEASED, lease_expires_at__gt=now
    ).exclude(user=user)
    unfinished = Q(responses__lt=F("project__overlap"))
    totals = items.aggregate(
        total=Count("id"),
        done=Count("id", filter=~unfinished),
    )
    # items still short of answers that the caller has not answered or skipped for good
    open_for_me = items.filter(unfinished).exclude(
        Exists(mine.filter(status__in=[Assignment.Status.SUBMITTED, Assignment.Status.SKIPPED]))
    )
    leased = open_for_me.filter(open_slots=0).filter(Exists(others_live))
    counts = {
        "open_for_me": open_for_me.count(),
        "leased_by_others": leased.count(),
        "waiting_for_others": items.filter(unfinished).filter(Exists(answered)).count(),
    }
    next_free = (
        Assignment.objects.filter(
            project_item__in=leased, status=Assignment.Status.LEASED, lease_expires_at__gt=now
        )
        .exclude(user=user)
        .aggregate(at=Min("lease_expires_at"))["at"]
    )
    if totals["total"] and totals["done"] >= totals["total"]:
        state = COMPLETE
    elif counts["open_for_me"] > counts["leased_by_others"]:
        state = AVAILABLE
    elif counts["leased_by_others"]:
        state = LEASED_BY_OTHERS
    elif totals["total"]:
        state = WAITING_FOR_OTHERS
    else:
        state = COMPLETE
    return {
        "state": state,
        "total": totals["total"],
        "done": totals["done"],
        "mine": Annotation.objects.filter(project=project, user=user).count(),
        "overlap": project.overlap,
        "leased_by_others": counts["leased_by_others"],
        "waiting_for_others": counts["waiting_for_others"],
        "next_lease_expires_at": next_free,
    }
