"""Imported candidate scores (formats.md) as annotations by an "external" annotator.

Scores that came with a corpus are existing human judgments. Each project item whose item
carries a `score` list (on a gpt turn, or beside candidate question sets) gets one annotation
by the external user with answers `{"imported_scores": [{"turn": t, "scores": [...]}, ...]}`
(turn "questions" for question sets). They are kept out of agreement and the queue; the
training-data selector turns them into pairs with source "import".
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from annotation.models import Annotation, AnnotationRevision, Project, ProjectItem
from rewardmodel.records import QUESTIONS_TURN

EXTERNAL_USERNAME = "external-import"
IMPORTED_KEY = "imported_scores"


def external_user():
    user, created = get_user_model().objects.get_or_create(
        username=EXTERNAL_USERNAME, defaults={"is_active": False}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def item_imported_scores(conversations: list, questions: Any, question_scores: Any) -> list[dict]:
    out = []
    for t, turn in enumerate(conversations or []):
        value, scores = turn.get("value"), turn.get("score")
        if isinstance(value, list) and isinstance(scores, list) and len(scores) == len(value):
            out.append({"turn": t, "scores": [float(s) for s in scores]})
    if (
        isinstance(questions, list)
        and isinstance(question_scores, list)
        and len(questions) == len(question_scores)
    ):
        out.append({"turn": QUESTIONS_TURN, "scores": [float(s) for s in question_scores]})
    return out


@transaction.atomic
def imported_scores_to_annotations(*, project: Project, batch: int = 2000) -> int:
    """Create the external annotations that are missing; returns how many were created."""
    user = external_user()
    done = set(
        Annotation.objects.filter(project=project, user=user).values_list("item_id", flat=True)
    )
    created = 0
    pending: list[Annotation] = []
    rows = (
        ProjectItem.objects.filter(project=project, item__has_candidates=True)
        .values_list(
            "pk", "item_id", "item__conversations", "item__questions", "item__question_scores"
        )
        .iterator(chunk_size=batch)
    )
    for pitem_id, item_id, conversations, questions, question_scores in rows:
        if item_id in done:
            continue
        scores = item_imported_scores(conversations, questions, question_scores)
        if not scores:
            continue
        pending.append(
            Annotation(
                project=project,
                project_item_id=pitem_id,
                item_id=item_id,
                user=user,
                answers={IMPORTED_KEY: scores},
                source=Annotation.Source.EXTERNAL,
            )
        )
        if len(pending) >= batch:
            created += _flush(pending)
    created += _flush(pending)
    return created


def _flush(pending: list[Annotation]) -> int:
    if not pending:
        return 0
    made = Annotation.objects.bulk_create(pending)
    AnnotationRevision.objects.bulk_create(
        AnnotationRevision(annotation=a, revision=1, answers=a.answers) for a in made
    )
    count = len(made)
    pending.clear()
    return count
