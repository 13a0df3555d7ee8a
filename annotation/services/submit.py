"""Submitting answers: validated against the rubric, idempotent on `client_key`, revisioned.

A first submit creates the annotation (revision 1). Submitting again for the same item edits
it: the annotation holds the newest answers and every version stays in AnnotationRevision, so
nothing is lost or silently overwritten ("undo last submit" in the UI is a re-submit). A retry
with a `client_key` seen before returns the annotation as it is, without writing anything; a
key seen with another annotator, item or project is refused (409), never answered with that
other annotation.

On PostgreSQL a submit is one read and one write statement (`queue_postgres`); the portable
path below, under the membership lock, is what SQLite runs and where PostgreSQL falls back
when the assignment changed between that read and write or a lapsed lease needs its slot back.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from annotation.models import Annotation, AnnotationRevision, Assignment, ProjectItem
from annotation.selectors.agreement_math import item_disagreement
from annotation.services import queue_postgres
from annotation.services.candidate_order import display_order_for
from annotation.services.queue import (
    _own_assignment,
    _take_slot,
    membership_for_work,
    work_membership,
)
from annotation.services.rubric import answers_clean, answers_match, rule_keys_for
from core.errors import DomainError


@dataclass(frozen=True)
class SubmitResult:
    annotation_id: int
    item_id: int
    answers: dict[str, Any]
    revision: int
    created: bool
    retried: bool
    gold_feedback: dict[str, Any] | None


def annotation_submit(
    *,
    project_id: int,
    user,
    item_id: int,
    answers: dict[str, Any],
    client_key: uuid.UUID | None,
) -> SubmitResult:
    if connection.vendor == "postgresql":
        try:
            result = _submit_postgres(
                project_id=project_id,
                user=user,
                item_id=item_id,
                answers=answers,
                client_key=client_key,
            )
        except IntegrityError:
            # Only a client_key used by a concurrent request gets here: answer like a retry.
            if client_key is None:
                raise
            return _retry(client_key=client_key, user=user, project_id=project_id, item_id=item_id)
        if result is not None:
            return result
    try:
        with transaction.atomic():
            return _submit(
                project_id=project_id,
                user=user,
                item_id=item_id,
                answers=answers,
                client_key=client_key,
            )
    except IntegrityError:
        if client_key is None:
            raise
        return _retry(client_key=client_key, user=user, project_id=project_id, item_id=item_id)


def _not_assigned() -> DomainError:
    return DomainError(
        "not_assigned", "This item was not given to you in this project.", status=404
    )


def _key_reused() -> DomainError:
    return DomainError(
        "client_key_reused",
        "This client_key belongs to another submit; use a fresh UUID per submit.",
        status=409,
    )


def _submit_postgres(*, project_id, user, item_id, answers, client_key) -> SubmitResult | None:
    """One read, one write; None when the portable, locked path must do it instead."""
    membership = work_membership(project_id=project_id, user=user)
    ctx = queue_postgres.submit_read(
        project_id=project_id, user_id=user.pk, item_id=item_id, client_key=client_key
    )
    feedback = ctx.gold_answers if ctx.is_gold else None
    if ctx.seen is not None:
        seen = ctx.seen
        if (seen["user_id"], seen["item_id"], seen["project_id"]) != (user.pk, item_id, project_id):
            raise _key_reused()
        return SubmitResult(
            seen["id"], item_id, seen["answers"], seen["revision"], False, True, feedback
        )
    if ctx.assignment_id is None:
        raise _not_assigned()
    clean = answers_clean(
        questions=ctx.questions, answers=answers, item=ctx.item, rule_keys=ctx.rule_keys
    )
    params: dict[str, Any] = {
        "project": project_id,
        "user": user.pk,
        "item": item_id,
        "pitem": ctx.project_item_id,
        "answers": clean,
        "key": client_key,
        "now": timezone.now(),
    }
    if ctx.status == Assignment.Status.SUBMITTED:
        refresh = ctx.done_count >= 2
        params["disagreement"] = (
            item_disagreement(ctx.questions, [*ctx.other_answers, clean]) if refresh else None
        )
        edited = queue_postgres.submit_edit_write(**params)
        if edited is None:
            return None
        return SubmitResult(edited[0], item_id, clean, edited[1], False, False, feedback)
    if not ctx.holds_slot and not ctx.is_gold:
        return None  # the lease lapsed and gave its slot back: take one under the locks
    correct = answers_match(ctx.gold_answers or {}, clean) if ctx.is_gold else None
    params |= {
        "assignment": ctx.assignment_id,
        "status": ctx.status,
        "holds": ctx.holds_slot,
        "holds_after": not ctx.is_gold,
        "is_gold": ctx.is_gold,
        "correct": correct,
        "correct_int": int(bool(correct)),
        "membership": membership.id,
        "display_order": display_order_for(
            assignment_id=ctx.assignment_id,
            conversations=ctx.item.conversations,
            questions=ctx.item.questions,
        ),
        "disagreement": item_disagreement(ctx.questions, [*ctx.other_answers, clean])
        if ctx.done_count + 1 >= 2
        else None,
    }
    annotation_id = queue_postgres.submit_first_write(**params)
    if annotation_id is None:
        return None
    return SubmitResult(annotation_id, item_id, clean, 1, True, False, feedback)


def _retry(*, client_key: uuid.UUID, user, project_id: int, item_id: int) -> SubmitResult:
    revision = (
        AnnotationRevision.objects.select_related("annotation__project_item")
        .filter(client_key=client_key)
        .first()
    )
    if revision is None:
        raise DomainError("conflict", "This submit conflicted with another; retry.", status=409)
    annotation = revision.annotation
    if (annotation.user_id, annotation.item_id, annotation.project_id) != (
        user.pk,
        item_id,
        project_id,
    ):
        raise _key_reused()
    return _result(annotation, annotation.project_item, created=False, retried=True)


def _result(
    annotation: Annotation, pitem: ProjectItem, *, created: bool, retried: bool
) -> SubmitResult:
    return SubmitResult(
        annotation.pk,
        annotation.item_id,
        annotation.answers,
        annotation.revision,
        created,
        retried,
        _gold_feedback(pitem),
    )


def _submit(*, project_id, user, item_id, answers, client_key) -> SubmitResult:
    membership = membership_for_work(project_id=project_id, user=user, client_key=client_key)
    project = membership.project
    if client_key is not None and membership.client_key_seen:
        return _retry(client_key=client_key, user=user, project_id=project_id, item_id=item_id)
    assignment = _own_assignment(project_id=project_id, user=user, item_id=item_id, with_item=True)
    pitem: ProjectItem = assignment.project_item
    clean = answers_clean(
        questions=project.rubric.questions,
        answers=answers,
        item=pitem.item,
        rule_keys=rule_keys_for(project),
    )
    if assignment.status == Assignment.Status.SUBMITTED:
        annotation = Annotation.objects.select_for_update().get(project_item=pitem, user=user)
        annotation.revision += 1
        annotation.answers = clean
        annotation.save(update_fields=["answers", "revision", "updated_at"])
        AnnotationRevision.objects.create(
            annotation=annotation,
            revision=annotation.revision,
            answers=clean,
            client_key=client_key,
        )
        _refresh_disagreement(pitem)
        return _result(annotation, pitem, created=False, retried=False)
    if not assignment.holds_slot and not pitem.is_gold:
        _take_slot(pitem)
    correct = answers_match(pitem.gold_answers or {}, clean) if pitem.is_gold else None
    annotation = Annotation.objects.create(
        project_id=project_id,
        project_item=pitem,
        item_id=pitem.item_id,
        user=user,
        answers=clean,
        display_order=display_order_for(
            assignment_id=assignment.pk,
            conversations=pitem.item.conversations,
            questions=pitem.item.questions,
        ),
        is_gold=pitem.is_gold,
        gold_correct=correct,
    )
    AnnotationRevision.objects.create(
        annotation=annotation, revision=1, answers=clean, client_key=client_key
    )
    Assignment.objects.filter(pk=assignment.pk).update(
        status=Assignment.Status.SUBMITTED,
        holds_slot=not pitem.is_gold,
        lease_expires_at=None,
        draft=None,
    )
    if pitem.is_gold:
        # Gold answers count once, on first submit: editing after feedback cannot raise accuracy.
        type(membership).objects.filter(pk=membership.pk).update(
            gold_answered=F("gold_answered") + 1, gold_correct=F("gold_correct") + int(correct)
        )
    updates: dict[str, Any] = {"done_count": F("done_count") + 1, "responses": F("responses") + 1}
    if pitem.done_count + 1 >= 2:
        updates["disagreement"] = _disagreement_of(
            pitem, extra=clean, questions=project.rubric.questions
        )
    ProjectItem.objects.filter(pk=pitem.pk).update(**updates)
    return _result(annotation, pitem, created=True, retried=False)


def _disagreement_of(pitem: ProjectItem, *, extra: dict | None, questions: list[dict]) -> float:
    answers = list(
        Annotation.objects.filter(project_item=pitem, source=Annotation.Source.HUMAN).values_list(
            "answers", flat=True
        )
    )
    if extra is not None:
        answers.append(extra)
    return item_disagreement(questions, answers)


def _refresh_disagreement(pitem: ProjectItem) -> None:
    if pitem.done_count >= 2:
        questions = pitem.project.rubric.questions
        ProjectItem.objects.filter(pk=pitem.pk).update(
            disagreement=_disagreement_of(pitem, extra=None, questions=questions)
        )


def _gold_feedback(pitem: ProjectItem) -> dict[str, Any] | None:
    return pitem.gold_answers if pitem.is_gold else None
