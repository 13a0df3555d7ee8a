"""Reads of rewriting runs and their turns."""

from __future__ import annotations

import random
from typing import Any

from django.db.models import Avg, Count, Q, QuerySet

from core.errors import DomainError
from rewrites.models import RewriteRun, RewriteTurn


def _not_found(what: str) -> DomainError:
    return DomainError("not_found", f"{what} not found.", status=404)


def rewrite_get(*, rewrite_id: int, dataset_id: int | None = None) -> RewriteRun:
    runs = RewriteRun.objects.select_related("job", "source", "result")
    if dataset_id is not None:
        runs = runs.filter(source_id=dataset_id)
    run = runs.filter(pk=rewrite_id).first()
    if run is None:
        raise _not_found("Rewriting")
    return run


def rewrites_of_dataset(*, dataset_id: int) -> QuerySet[RewriteRun]:
    return RewriteRun.objects.filter(source_id=dataset_id).select_related("job", "result")


def rewrite_turn_get(*, rewrite_id: int, turn_id: int) -> RewriteTurn:
    turn = RewriteTurn.objects.filter(run_id=rewrite_id, pk=turn_id).first()
    if turn is None:
        raise _not_found("Turn")
    return turn


def rewrite_turns(
    *,
    run: RewriteRun,
    flagged: bool | None = None,
    kept: str | None = None,
    decided: bool | None = None,
    sample: int | None = None,
    seed: int = 0,
) -> QuerySet[RewriteTurn]:
    """The turns of a run, filtered; ``sample`` keeps a seeded random sample of that many."""
    turns = RewriteTurn.objects.filter(run=run)
    if flagged is not None:
        turns = turns.filter(flagged=flagged)
    if kept:
        turns = turns.filter(kept=kept)
    if decided is not None:
        turns = turns.exclude(decision="") if decided else turns.filter(decision="")
    if sample:
        ids = list(turns.order_by("id").values_list("id", flat=True))
        chosen = random.Random(seed).sample(ids, min(sample, len(ids)))
        turns = RewriteTurn.objects.filter(pk__in=chosen)
    return turns


def rewrite_prompt_versions() -> list[tuple[str, str, bool]]:
    """(version, what it is, default) of the built-in rewriting prompts, for the start form.
    The prompts module is plain data: reading it imports no torch."""
    from rewriting.prompts import DEFAULT_PROMPT_VERSION, PROMPTS

    return [
        (
            version,
            "worked examples" if prompt.examples else "rules",
            version == DEFAULT_PROMPT_VERSION,
        )
        for version, prompt in PROMPTS.items()
    ]


def rewrite_figures(*, run: RewriteRun) -> dict[str, Any]:
    """Counts, the share rewritten, mean likelihoods and the sampled human acceptance rate."""
    turns = RewriteTurn.objects.filter(run=run)
    agg = turns.aggregate(
        n=Count("id"),
        rewritten=Count("id", filter=Q(kept="rewrite")),
        flagged=Count("id", filter=Q(flagged=True)),
        ties=Count("id", filter=Q(reason="review:tie")),
        review_original=Count("id", filter=Q(reason="review:original")),
        nll_original=Avg("nll_original"),
        nll_rewrite=Avg("nll_rewrite"),
        decided=Count("id", filter=~Q(decision="")),
        accepted=Count("id", filter=Q(decision__in=["accept", "edit"])),
        edited=Count("id", filter=Q(decision="edit")),
    )
    n = agg["n"] or 0
    guard_failures: dict[str, int] = {}
    for guards in turns.filter(flagged=True).values_list("guards", flat=True).iterator():
        for g in guards or []:
            if not g.get("passed"):
                guard_failures[g["name"]] = guard_failures.get(g["name"], 0) + 1
    decided = agg["decided"] or 0
    return {
        "turns": n,
        "rewritten": agg["rewritten"],
        "share_rewritten": round(agg["rewritten"] / n, 4) if n else None,
        "flagged": agg["flagged"],
        "guard_failures": guard_failures,
        "review_ties": agg["ties"],
        "review_kept_original": agg["review_original"],
        "mean_nll_original": agg["nll_original"],
        "mean_nll_rewrite": agg["nll_rewrite"],
        "human_decided": decided,
        "human_accepted": agg["accepted"],
        "human_edited": agg["edited"],
        "human_acceptance_rate": round(agg["accepted"] / decided, 4) if decided else None,
    }
