"""Fill a demo project with simulated annotations (hidden ground truth + 15% flips).

The demo dashboards (agreement, reward-model runs, curation) then have data on a first run.
Answers follow the "instruction_quality" rubric: faithful / no_hallucination from the
simulated faithful flag, the 1-5 rating for helpfulness, clarity and detail, and the ranking
of candidate answers where the item has them. Rows are written in bulk: the simulator is a
fixture of the demo, not a person going through the queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from annotation.models import Annotation, Project, ProjectItem, ProjectMembership
from demo.corpus.simulate import load_ground_truth, simulate_judgments

SIMULATED_PREFIX = "simulated-annotator-"


@dataclass(frozen=True)
class SimulationReport:
    annotators: int
    items: int
    annotations: int


def _answers(judgment: Any, candidate_turn: int | None) -> dict[str, Any]:
    answers: dict[str, Any] = {
        "faithful": judgment.faithful,
        "no_hallucination": judgment.faithful,
        "answerable": True,
        "helpfulness": judgment.rating,
        "clarity": judgment.rating,
        "detail": judgment.rating,
    }
    if judgment.ranking is not None and candidate_turn is not None:
        answers["best_answer"] = {
            "turn": candidate_turn,
            "ranking": [list(tier) for tier in judgment.ranking],
        }
    return answers


def demo_annotations_simulate(
    *,
    project: Project,
    ground_truth: Path | str | dict,
    n_annotators: int = 3,
    flip_rate: float = 0.15,
    seed: int = 0,
    limit: int | None = None,
) -> SimulationReport:
    """Idempotent: existing simulated annotations of the project are replaced."""
    truth = load_ground_truth(ground_truth)
    judgments = simulate_judgments(truth, n_annotators=n_annotators, flip_rate=flip_rate, seed=seed)
    User = get_user_model()
    users = []
    for k in range(n_annotators):
        user, created = User.objects.get_or_create(username=f"{SIMULATED_PREFIX}{k + 1}")
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        ProjectMembership.objects.get_or_create(
            project=project, user=user, defaults={"role": ProjectMembership.Role.ANNOTATOR}
        )
        users.append(user)
    pitems = list(
        ProjectItem.objects.filter(project=project, item__external_id__in=list(truth))
        .select_related("item")
        .order_by("item_id")
    )
    if limit is not None:
        pitems = pitems[:limit]
    rows = []
    for pitem in pitems:
        external = pitem.item.external_id
        candidate_turn = (truth[external].get("candidates") or {}).get("turn")
        for k, user in enumerate(users):
            judgment = judgments.get((external, k))
            if judgment is None:
                continue
            rows.append(
                Annotation(
                    project=project,
                    project_item=pitem,
                    item_id=pitem.item_id,
                    user=user,
                    answers=_answers(judgment, candidate_turn),
                )
            )
    with transaction.atomic():
        Annotation.objects.filter(project=project, user__in=users).delete()
        Annotation.objects.bulk_create(rows, batch_size=2000)
        done = len(users)
        for pitem in pitems:
            pitem.done_count = pitem.responses = done
            pitem.open_slots = max(0, project.overlap - done)
        ProjectItem.objects.bulk_update(
            pitems, ["done_count", "responses", "open_slots"], batch_size=2000
        )
    return SimulationReport(annotators=len(users), items=len(pitems), annotations=len(rows))
