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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from annotation.models import (
    AnnotationRevision,
    Assignment,
    Project,
    ProjectItem,
    ProjectMembership,
)
from annotation.services.rubric import answers_clean, rule_keys_for
from core.errors import DomainError

RECLAIM_BATCH = 200
MAX_PREFETCH_EXCLUDES = 2
_rng = random.SystemRandom()


@dataclass(frozen=True)
class WorkMembership:
    """The caller's membership with the project settings the queue and submit read."""

    id: int
    project_id: int
    role: str
    gold_answered: int
    gold_correct: int
    gold_rate: float
    lease_seconds: int
    sampling: str
    skip_policy: str
    gold_min_answers: int
    gold_block_below: float

    @property
    def gold_accuracy(self) -> float | None:
        return self.gold_correct / self.gold_answered if self.gold_answered else None


# The columns of WorkMembership, in order, over `m` (membership) joined to `p` (project): the
# token authentication joins them to its token lookup, so the hot endpoints pay no query of
# their own for the membership (annotation.api.auth).
WORK_MEMBERSHIP_COLUMNS = (
    "m.id, m.project_id, m.role, m.gold_answered, m.gold_correct, p.gold_rate, "
    "p.lease_seconds, p.sampling, p.skip_policy, p.gold_min_answers, p.gold_block_below"
)
WORK_MEMBERSHIP_JOIN = (
    f"{ProjectMembership._meta.db_table} m JOIN {Project._meta.db_table} p ON p.id = m.project_id"
)
_WORK_MEMBERSHIP_SQL = (
    f"SELECT {WORK_MEMBERSHIP_COLUMNS} FROM {WORK_MEMBERSHIP_JOIN} "
    "WHERE m.project_id = %s AND m.user_id = %s"
)
# Where the authentication leaves what it loaded: (project id, WorkMembership or None).
PRELOADED_ATTR = "_work_membership"


def work_membership_from_row(row: Sequence[Any]) -> WorkMembership | None:
    return None if row[0] is None else WorkMembership(*row)


def work_membership(*, project_id: int, user) -> WorkMembership:
    """The caller's membership of the project (404 for strangers), unlocked.

    No query when the request's authentication already loaded it with the token.
    """
    preloaded = getattr(user, PRELOADED_ATTR, None)
    if preloaded is not None and preloaded[0] == project_id:
        membership = preloaded[1]
    else:
        with connection.cursor() as cursor:
            cursor.execute(_WORK_MEMBERSHIP_SQL, [project_id, user.pk])
            row = cursor.fetchone()
        membership = work_membership_from_row(row) if row else None
    if membership is None:
        raise DomainError("not_found", "No such project.", status=404)
    return membership


@dataclass(frozen=True)
class Lease:
    """An item leased to the caller, with what the annotation page shows of it."""

    assignment_id: int
    project_item_id: int
    lease_expires_at: datetime
    is_gold: bool
    item: dict[str, Any]  # id, external_id, image_url, width, height, category, conversations,
    # questions: the API's item payload
    draft: dict[str, Any] | None


def item_payload_of(
    *,
    item_id: int,
    external_id: str,
    category: str,
    conversations: Any,
    questions: Any,
    image_file: str | None,
    width: int | None,
    height: int | None,
) -> dict[str, Any]:
    return {
        "id": item_id,
        "external_id": external_id,
        "image_url": None if image_file is None else f"{settings.MEDIA_URL}{image_file}",
        "width": width,
        "height": height,
        "category": category,
        "conversations": conversations,
        "questions": questions,
    }


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


def annotator_blocked(
    membership: WorkMembership, *, gold_answered: int, gold_correct: int
) -> DomainError | None:
    """The error to answer when the caller's gold accuracy is under the project's threshold."""
    accuracy = gold_correct / gold_answered if gold_answered else None
    if (
        accuracy is None
        or gold_answered < membership.gold_min_answers
        or accuracy >= membership.gold_block_below
    ):
        return None
    return DomainError(
        "annotator_blocked",
        "Your accuracy on gold items is below this project's threshold; "
        "ask the project owner to review your work.",
        status=403,
        details={
            "gold_accuracy": accuracy,
            "gold_answered": gold_answered,
            "threshold": membership.gold_block_below,
        },
    )


def item_next(
    *,
    project_id: int,
    user,
    now=None,
    exclude_item_ids: Sequence[int] = (),
) -> Lease | None:
    """Lease one item to `user`, or None when nothing is left for them.

    `exclude_item_ids` lets the page prefetch: while the annotator works on the item it holds,
    asking with that item excluded leases (or renews) a second one, so the next item shows
    without a round trip. At most MAX_PREFETCH_EXCLUDES items may be excluded, which bounds how
    many leases one annotator can hold.

    On PostgreSQL this is one round trip of two statements in one implicit transaction (lock the
    membership and reclaim lapsed leases; renew the own lease or pick and take an item, see
    `queue_postgres`); elsewhere the portable ORM path below.
    """
    if len(exclude_item_ids) > MAX_PREFETCH_EXCLUDES:
        raise DomainError(
            "too_many_excludes",
            f"At most {MAX_PREFETCH_EXCLUDES} held items can be excluded when prefetching.",
        )
    now = now or timezone.now()
    if connection.vendor == "postgresql":
        from annotation.services import queue_postgres

        membership = work_membership(project_id=project_id, user=user)
        # Checked on the counters read with the token: a gold answer of the caller's being
        # submitted at this very moment counts from the next call on.
        blocked = annotator_blocked(
            membership,
            gold_answered=membership.gold_answered,
            gold_correct=membership.gold_correct,
        )
        if blocked is not None:
            raise blocked
        return queue_postgres.item_next(
            membership=membership,
            user_id=user.pk,
            now=now,
            expires=now + timedelta(seconds=membership.lease_seconds),
            exclude_item_ids=list(exclude_item_ids),
            gold_first=_gold_first(membership.gold_rate),
            random_start=_rng.randrange(2**32),
        )
    return _next_portable(
        project_id=project_id, user=user, now=now, exclude_item_ids=exclude_item_ids
    )


def _gold_first(gold_rate: float) -> bool:
    return gold_rate > 0 and _rng.random() < gold_rate


def work_membership_of(membership: ProjectMembership) -> WorkMembership:
    project = membership.project
    return WorkMembership(
        id=membership.pk,
        project_id=project.pk,
        role=membership.role,
        gold_answered=membership.gold_answered,
        gold_correct=membership.gold_correct,
        gold_rate=project.gold_rate,
        lease_seconds=project.lease_seconds,
        sampling=project.sampling,
        skip_policy=project.skip_policy,
        gold_min_answers=project.gold_min_answers,
        gold_block_below=project.gold_block_below,
    )


def _lease_of(assignment: Assignment, pitem: ProjectItem) -> Lease:
    item = pitem.item
    image = item.image if item.image_id else None
    payload = item_payload_of(
        item_id=item.pk,
        external_id=item.external_id,
        category=item.category,
        conversations=item.conversations,
        questions=item.questions,
        image_file=str(image.file) if image else None,
        width=image.width if image else None,
        height=image.height if image else None,
    )
    return Lease(
        assignment.pk,
        pitem.pk,
        assignment.lease_expires_at,
        pitem.is_gold,
        payload,
        assignment.draft,
    )


def _next_portable(
    *,
    project_id: int,
    user,
    now,
    exclude_item_ids: Sequence[int],
) -> Lease | None:
    with transaction.atomic():
        locked = membership_for_work(project_id=project_id, user=user)
        membership = work_membership_of(locked)
        blocked = annotator_blocked(
            membership, gold_answered=locked.gold_answered, gold_correct=locked.gold_correct
        )
        if blocked is not None:
            raise blocked
        expires = now + timedelta(seconds=membership.lease_seconds)
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
            return _lease_of(own, own.project_item)
        _reclaim_expired(project_id=project_id, now=now)
        seen = Assignment.objects.filter(project_item=OuterRef("pk"), user=user)
        base = ProjectItem.objects.filter(project_id=project_id).select_related("item__image")
        if _gold_first(membership.gold_rate):
            gold = base.filter(is_gold=True).exclude(Exists(seen)).order_by("random_key").first()
            if gold is not None:
                return _lease_new(gold, user=user, expires=expires, holds_slot=False)
        candidates = base.filter(is_gold=False, open_slots__gt=0).exclude(Exists(seen))
        picked = _pick(candidates, sampling=membership.sampling)
        if picked is not None:
            ProjectItem.objects.filter(pk=picked.pk).update(open_slots=F("open_slots") - 1)
            return _lease_new(picked, user=user, expires=expires, holds_slot=True)
        statuses = [Assignment.Status.POSTPONED, Assignment.Status.EXPIRED]
        again = _lease_again(project_id=project_id, user=user, statuses=statuses, expires=expires)
        if again is None and membership.skip_policy == "requeue_for_me":
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
    return _lease_of(assignment, pitem)


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
    if not pitem.is_gold:
        ProjectItem.objects.filter(pk=pitem.pk).update(open_slots=F("open_slots") - 1)
    assignment = Assignment.objects.get(project_item=pitem, user=user)
    assignment.status = Assignment.Status.LEASED
    assignment.holds_slot = not pitem.is_gold
    assignment.lease_expires_at = expires
    assignment.save(update_fields=["status", "holds_slot", "lease_expires_at", "updated_at"])
    return _lease_of(assignment, pitem)


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
