"""The work queue: lease the next item to an annotator, skip, postpone, autosave drafts.

Order of `item_next`: the caller's own live lease; a gold item at the project's gold rate;
then open items with the fewest open slots first (items already partly annotated are
finished before new ones are started), ties broken by the sampling policy; then the caller's
postponed (and lapsed) items; then, under the "requeue for me" policy, skipped ones.

Concurrency: the caller's membership row is locked first, so one annotator's requests run one
at a time; candidate project items are taken with `SELECT ... FOR UPDATE SKIP LOCKED` over a
partial index on (project, open_slots, <policy key>), so concurrent annotators never wait on
each other nor scan the project. `open_slots` only moves under that row lock and a check
constraint keeps it >= 0, so the overlap is never exceeded; the unique (item, user) constraint
on Assignment makes serving one item twice to one annotator impossible. SQLite has no row
locks but serialises writers (IMMEDIATE transactions), which gives the same results.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from annotation.models import AnnotationRevision, Assignment, ProjectItem, ProjectMembership
from annotation.services.rubric import answers_clean, rule_keys_for
from core.errors import DomainError

RECLAIM_BATCH = 200
_rng = random.SystemRandom()


@dataclass
class Lease:
    assignment: Assignment
    project_item: ProjectItem
    draft: dict[str, Any] | None


def membership_for_work(
    *,
    project_id: int,
    user,
    lock: bool = True,
    client_key: uuid.UUID | None = None,
) -> ProjectMembership:
    """The caller's membership with project and rubric, locked; 404 for strangers.

    With `client_key`, `membership.client_key_seen` tells whether a submit already used that
    key: submit learns that it is a retry in this query instead of one of its own.
    """
    qs = ProjectMembership.objects.select_related("project", "project__rubric")
    if lock:
        qs = qs.select_for_update(of=("self",))
    if client_key is not None:
        seen = AnnotationRevision.objects.filter(client_key=client_key)
        qs = qs.annotate(client_key_seen=Exists(seen))
    membership = qs.filter(project_id=project_id, user=user).first()
    if membership is None:
        raise DomainError("not_found", "No such project.", status=404)
    return membership


def annotator_blocked(membership: ProjectMembership) -> bool:
    project = membership.project
    accuracy = membership.gold_accuracy
    return (
        accuracy is not None
        and membership.gold_answered >= project.gold_min_answers
        and accuracy < project.gold_block_below
    )


MAX_PREFETCH_EXCLUDES = 2


def item_next(
    *,
    project_id: int,
    user,
    now=None,
    exclude_item_ids: list[int] | tuple[int, ...] = (),
) -> Lease | None:
    """Lease one item to `user`, or None when nothing is left for them.

    `exclude_item_ids` lets the page prefetch: while the annotator works on the item it holds,
    asking with that item excluded leases (or renews) a second one, so the next item shows
    without a round trip. At most MAX_PREFETCH_EXCLUDES items may be excluded, which bounds how
    many leases one annotator can hold.
    """
    if len(exclude_item_ids) > MAX_PREFETCH_EXCLUDES:
        raise DomainError(
            "too_many_excludes",
            f"At most {MAX_PREFETCH_EXCLUDES} held items can be excluded when prefetching.",
        )
    now = now or timezone.now()
    with transaction.atomic():
        membership = membership_for_work(project_id=project_id, user=user)
        project = membership.project
        if annotator_blocked(membership):
            raise DomainError(
                "annotator_blocked",
                "Your accuracy on gold items is below this project's threshold; "
                "ask the project owner to review your work.",
                status=403,
                details={
                    "gold_accuracy": membership.gold_accuracy,
                    "gold_answered": membership.gold_answered,
                    "threshold": project.gold_block_below,
                },
            )
        expires = now + timedelta(seconds=project.lease_seconds)
        own = (
            Assignment.objects.select_related("project_item__item__image")
            .filter(project_id=project_id, user=user, status=Assignment.Status.LEASED)
            .exclude(project_item__item_id__in=exclude_item_ids)
            .order_by("created_at")
            .first()
        )
        if own is not None:
            # Still holds its slot (reclaim would have moved it to "expired"): renew the lease.
            own.lease_expires_at = expires
            own.save(update_fields=["lease_expires_at", "updated_at"])
            return Lease(own, own.project_item, own.draft)
        _reclaim_expired(project_id=project_id, now=now)
        seen = Assignment.objects.filter(project_item=OuterRef("pk"), user=user)
        base = ProjectItem.objects.filter(project_id=project_id).select_related("item__image")
        if project.gold_rate > 0 and _rng.random() < project.gold_rate:
            gold = base.filter(is_gold=True).exclude(Exists(seen)).order_by("random_key").first()
            if gold is not None:
                return _lease_new(gold, user=user, expires=expires, holds_slot=False)
        candidates = base.filter(is_gold=False, open_slots__gt=0).exclude(Exists(seen))
        picked = _pick(candidates, sampling=project.sampling)
        if picked is not None:
            ProjectItem.objects.filter(pk=picked.pk).update(open_slots=F("open_slots") - 1)
            picked.open_slots -= 1
            return _lease_new(picked, user=user, expires=expires, holds_slot=True)
        statuses = [Assignment.Status.POSTPONED, Assignment.Status.EXPIRED]
        again = _lease_again(project_id=project_id, user=user, statuses=statuses, expires=expires)
        if again is None and project.skip_policy == "requeue_for_me":
            again = _lease_again(
                project_id=project_id,
                user=user,
                statuses=[Assignment.Status.SKIPPED],
                expires=expires,
            )
        return again


def _locked(qs):
    return qs.select_for_update(skip_locked=True, of=("self",))


def _pick(candidates, *, sampling: str) -> ProjectItem | None:
    if sampling == "random":
        # Start the index walk at a random point of the fixed permutation, so concurrent
        # annotators spread over the project instead of queueing on the same rows.
        start = _rng.randrange(2**32)
        picked = _locked(
            candidates.filter(random_key__gte=start).order_by("open_slots", "random_key")
        ).first()
        if picked is not None:
            return picked
        return _locked(candidates.order_by("open_slots", "random_key")).first()
    if sampling == "uncertainty":
        order = ("open_slots", F("uncertainty").desc(nulls_last=True), "id")
        return _locked(candidates.order_by(*order)).first()
    return _locked(candidates.order_by("open_slots", "id")).first()


def _lease_new(pitem: ProjectItem, *, user, expires, holds_slot: bool) -> Lease:
    assignment = Assignment.objects.create(
        project_id=pitem.project_id,
        project_item=pitem,
        user=user,
        status=Assignment.Status.LEASED,
        holds_slot=holds_slot,
        lease_expires_at=expires,
    )
    return Lease(assignment, pitem, None)


def _lease_again(*, project_id: int, user, statuses: list[str], expires) -> Lease | None:
    """Re-lease one of the caller's earlier items that still has room (gold always has)."""
    pitem = _locked(
        ProjectItem.objects.select_related("item__image")
        .filter(
            Q(is_gold=True) | Q(open_slots__gt=0),
            project_id=project_id,
            assignments__user=user,
            assignments__status__in=statuses,
        )
        .order_by("assignments__updated_at", "id")
    ).first()
    if pitem is None:
        return None
    assignment = Assignment.objects.get(project_item=pitem, user=user)
    if not pitem.is_gold:
        ProjectItem.objects.filter(pk=pitem.pk).update(open_slots=F("open_slots") - 1)
        pitem.open_slots -= 1
    assignment.status = Assignment.Status.LEASED
    assignment.holds_slot = not pitem.is_gold
    assignment.lease_expires_at = expires
    assignment.save(update_fields=["status", "holds_slot", "lease_expires_at", "updated_at"])
    return Lease(assignment, pitem, assignment.draft)


def _reclaim_expired(*, project_id: int, now) -> int:
    """Return the slots of lapsed leases to their items (a bounded batch per call)."""
    lapsed = list(
        _locked(
            Assignment.objects.filter(
                project_id=project_id, status=Assignment.Status.LEASED, lease_expires_at__lt=now
            ).order_by("lease_expires_at")
        ).values_list("pk", "project_item_id", "holds_slot")[:RECLAIM_BATCH]
    )
    if not lapsed:
        return 0
    Assignment.objects.filter(pk__in=[pk for pk, _, _ in lapsed]).update(
        status=Assignment.Status.EXPIRED, holds_slot=False, lease_expires_at=None
    )
    _release_slots(Counter(pitem for _, pitem, holds in lapsed if holds))
    return len(lapsed)


def _release_slots(per_item: Counter) -> None:
    by_count: dict[int, list[int]] = {}
    for pitem_id, count in per_item.items():
        by_count.setdefault(count, []).append(pitem_id)
    for count, ids in by_count.items():
        ProjectItem.objects.filter(pk__in=sorted(ids)).update(open_slots=F("open_slots") + count)


def _own_assignment(
    *,
    project_id: int,
    user,
    item_id: int,
    with_item: bool = False,
) -> Assignment:
    # Answers are checked against the item, so submit and autosave join it here rather than
    # paying a second query for it.
    related = "project_item__item" if with_item else "project_item"
    assignment = (
        Assignment.objects.select_for_update(of=("self",))
        .select_related(related)
        .filter(project_id=project_id, user=user, project_item__item_id=item_id)
        .first()
    )
    if assignment is None:
        raise DomainError(
            "not_assigned", "This item was not given to you in this project.", status=404
        )
    return assignment


def item_skip(*, project_id: int, user, item_id: int) -> Assignment:
    """Skip an item per the project's skip policy."""
    with transaction.atomic():
        membership = membership_for_work(project_id=project_id, user=user)
        assignment = _own_assignment(project_id=project_id, user=user, item_id=item_id)
        if assignment.status == Assignment.Status.SUBMITTED:
            raise DomainError("already_submitted", "You already answered this item.", status=409)
        pitem = assignment.project_item
        ignore = membership.project.skip_policy == "ignore"
        if ignore and not pitem.is_gold:
            # The skip is this annotator's response: the slot stays taken and counts as done.
            if not assignment.holds_slot:
                _take_slot(pitem)
            ProjectItem.objects.filter(pk=pitem.pk).update(responses=F("responses") + 1)
            assignment.holds_slot = True
        elif assignment.holds_slot:
            _release_slots(Counter({pitem.pk: 1}))
            assignment.holds_slot = False
        assignment.status = Assignment.Status.SKIPPED
        assignment.lease_expires_at = None
        assignment.save(update_fields=["status", "holds_slot", "lease_expires_at", "updated_at"])
        return assignment


def item_postpone(*, project_id: int, user, item_id: int) -> Assignment:
    """Put an item aside: its slot goes back, and it returns to the caller after new work."""
    with transaction.atomic():
        membership_for_work(project_id=project_id, user=user)
        assignment = _own_assignment(project_id=project_id, user=user, item_id=item_id)
        if assignment.status == Assignment.Status.SUBMITTED:
            raise DomainError("already_submitted", "You already answered this item.", status=409)
        if assignment.holds_slot and not assignment.project_item.is_gold:
            _release_slots(Counter({assignment.project_item_id: 1}))
        assignment.status = Assignment.Status.POSTPONED
        assignment.holds_slot = False
        assignment.lease_expires_at = None
        assignment.save(update_fields=["status", "holds_slot", "lease_expires_at", "updated_at"])
        return assignment


def _take_slot(pitem: ProjectItem) -> None:
    """Take a slot back for a response given after the caller's lease lapsed (409 if full)."""
    taken = ProjectItem.objects.filter(pk=pitem.pk, open_slots__gt=0).update(
        open_slots=F("open_slots") - 1
    )
    if not taken:
        raise DomainError(
            "lease_expired",
            "Your lease on this item ran out and other annotators have filled it.",
            status=409,
        )


def draft_save(*, project_id: int, user, item_id: int, answers: dict[str, Any]) -> Assignment:
    """Autosave unsubmitted answers (checked loosely: required answers may be missing)."""
    with transaction.atomic():
        membership = membership_for_work(project_id=project_id, user=user)
        assignment = _own_assignment(
            project_id=project_id, user=user, item_id=item_id, with_item=True
        )
        item = assignment.project_item.item
        answers_clean(
            questions=membership.project.rubric.questions,
            answers=answers,
            item=item,
            rule_keys=rule_keys_for(membership.project),
            partial=True,
        )
        assignment.draft = answers
        assignment.save(update_fields=["draft", "updated_at"])
        return assignment
