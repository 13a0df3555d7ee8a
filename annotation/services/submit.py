"""Submitting answers: validated against the rubric, idempotent on `client_key`, revisioned.

A first submit creates the annotation (revision 1). Submitting again for the same item edits
it: the annotation holds the newest answers and every version stays in AnnotationRevision, so
nothing is lost or silently overwritten ("undo last submit" in the UI is a re-submit). A retry
with a `client_key` seen before returns the annotation as it is, without writing anything.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F

from annotation.models import Annotation, AnnotationRevision, Assignment, ProjectItem
from annotation.selectors.agreement_math import item_disagreement
from annotation.services.queue import _own_assignment, _take_slot, membership_for_work
from annotation.services.rubric import answers_clean, answers_match, rule_keys_for
from core.errors import DomainError


@dataclass
class SubmitResult:
    annotation: Annotation
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
        # Only a client_key used by a concurrent request gets here: answer like a retry.
        if client_key is None:
            raise
        return _retry(client_key=client_key, user=user, item_id=item_id)


def _retry(*, client_key: uuid.UUID, user, item_id: int) -> SubmitResult:
    revision = (
        AnnotationRevision.objects.select_related("annotation__project_item")
        .filter(client_key=client_key)
        .first()
    )
    if revision is None:
        raise DomainError("conflict", "This submit conflicted with another; retry.", status=409)
    annotation = revision.annotation
    if annotation.user_id != user.pk or annotation.item_id != item_id:
        raise DomainError(
            "client_key_reused",
            "This client_key belongs to another submit; use a fresh UUID per submit.",
            status=409,
        )
    return SubmitResult(annotation, False, True, _gold_feedback(annotation.project_item))


def _submit(*, project_id, user, item_id, answers, client_key) -> SubmitResult:
    membership = membership_for_work(project_id=project_id, user=user, client_key=client_key)
    project = membership.project
    if client_key is not None and membership.client_key_seen:
        return _retry(client_key=client_key, user=user, item_id=item_id)
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
        return SubmitResult(annotation, False, False, _gold_feedback(pitem))
    if not assignment.holds_slot and not pitem.is_gold:
        _take_slot(pitem)
    correct = answers_match(pitem.gold_answers or {}, clean) if pitem.is_gold else None
    annotation = Annotation.objects.create(
        project_id=project_id,
        project_item=pitem,
        item_id=pitem.item_id,
        user=user,
        answers=clean,
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
    return SubmitResult(annotation, True, False, _gold_feedback(pitem))


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
