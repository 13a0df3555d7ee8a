"""Reads on safety-judge runs: the runs of a project, and the judge against the humans per
rule (precision, recall, F1, Cohen's kappa with 95% intervals, confusion, disagreements)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from annotation.models import Project
from annotation.selectors.judge_verdicts import human_majority, human_verdicts, judge_verdicts
from core.services.jobs import job_live_progress
from corpora.models import Item
from curation.models import JudgeRun
from judge.metrics import compare

MAX_DISAGREEMENTS = 50


def judge_run_list(*, project: Project) -> QuerySet[JudgeRun]:
    return JudgeRun.objects.filter(project=project).select_related("job", "constitution")


def judge_run_get(*, run_id: int) -> JudgeRun | None:
    return (
        JudgeRun.objects.select_related("job", "constitution", "project").filter(pk=run_id).first()
    )


def judge_run_summary(run: JudgeRun) -> dict[str, Any]:
    return {
        "id": run.pk,
        "project_id": run.project_id,
        "constitution_version": run.constitution.version,
        "corpus_id": run.corpus_id,
        "config": run.config,
        "model_version": run.model_version,
        "job_id": run.job_id,
        "status": run.job.status,
        "progress": job_live_progress(run.job),
        "result": run.job.result or {},
        "error": run.job.error,
        "items_total": run.items_total,
        "created_at": run.created_at,
    }


def judge_vs_human(*, run: JudgeRun) -> dict[str, Any]:
    """Per rule of the run's constitution: the judge against the humans' majority on items both
    judged, beside two annotators against each other (the humans' own agreement)."""
    judged = judge_verdicts(run_id=run.pk)
    humans = human_verdicts(project=run.project, item_ids=sorted({i for i, _ in judged}))
    rules = list(run.constitution.rules.order_by("position").values("key", "text"))
    out = []
    for rule in rules:
        key = rule["key"]
        pairs, disagreements, first, second = [], [], [], []
        for (item_id, rule_key), decision in sorted(judged.items()):
            if rule_key != key:
                continue
            votes = humans.get((item_id, key), [])
            if len(votes) >= 2:
                first.append(votes[0])
                second.append(votes[1])
            majority = human_majority(votes) if votes else None
            if majority is None:
                continue
            pairs.append((decision["violated"], majority))
            if decision["violated"] != majority:
                disagreements.append(
                    {
                        "item_id": item_id,
                        "judge": decision["violated"],
                        "humans": votes,
                        "score": decision["score"],
                    }
                )
        out.append(
            {
                "rule": key,
                "text": rule["text"],
                "judged": sum(1 for _, r in judged if r == key),
                "judge_violations": sum(
                    1 for (_, r), d in judged.items() if r == key and d["violated"]
                ),
                "vs_humans": compare([p for p, _ in pairs], [h for _, h in pairs]),
                "human_human": compare(first, second),
                "disagreement_count": len(disagreements),
                "disagreements": disagreements[:MAX_DISAGREEMENTS],
            }
        )
    ids = {d["item_id"] for r in out for d in r["disagreements"]}
    external = dict(Item.objects.filter(pk__in=ids).values_list("pk", "external_id"))
    for r in out:
        for d in r["disagreements"]:
            d["external_id"] = external.get(d["item_id"], "")
    return {"run": judge_run_summary(run), "rules": out}


def judge_run_rule_keys(run: JudgeRun | None) -> list[str]:
    """The keys of the rules a judge run judged, in the constitution's order ([] without a run)."""
    if run is None:
        return []
    return list(run.constitution.rules.order_by("position").values_list("key", flat=True))


def judge_run_latest(
    *, project_ids: list[int] | None, corpus_id: int | None = None
) -> JudgeRun | None:
    """The newest finished judge run of these projects (None: any project), and when a corpus
    is given, one that judged that corpus (a run over the whole project judged its corpora):
    the run whose verdicts curation's and the data browser's judge flags read."""
    from core.models import Job

    runs = JudgeRun.objects.filter(job__status=Job.Status.SUCCEEDED)
    if project_ids is not None:
        runs = runs.filter(project_id__in=project_ids)
    if corpus_id is not None:
        runs = runs.filter(
            Q(corpus_id=corpus_id) | Q(corpus__isnull=True, project__corpora__id=corpus_id)
        )
    return runs.select_related("constitution").order_by("-pk").first()


def judge_flag_table(*, project_id: int, item_ids: Any) -> tuple[dict[str, Any] | None, dict]:
    """Curation flags from the project's latest finished judge run, aligned with ``item_ids``:
    ``unsafe_judge`` (some rule violated), ``judge:<rule>`` per rule; and what the run was
    (id, models, thresholds) for the dataset's lineage. No run: (None, {})."""
    import numpy as np

    from annotation.models import Suggestion

    run = judge_run_latest(project_ids=[project_id])
    if run is None:
        return None, {}
    index = {int(i): n for n, i in enumerate(item_ids)}
    rules = list(run.constitution.rules.order_by("position").values_list("key", flat=True))
    flags = {f"judge:{r}": np.zeros(len(index), dtype=bool) for r in rules}
    rows = Suggestion.objects.filter(
        judge_run_id=run.pk, item_id__in=list(index), value__verdict="violates"
    ).values_list("item_id", "rule_key")
    for item_id, rule in rows:
        if f"judge:{rule}" in flags:
            flags[f"judge:{rule}"][index[item_id]] = True
    any_rule = np.zeros(len(index), dtype=bool)
    for array in flags.values():
        any_rule |= array
    flags["unsafe_judge"] = any_rule
    info = {
        "run_id": run.pk,
        "model_version": run.model_version,
        "constitution_version": run.constitution.version,
        "config": run.config,
    }
    return info, flags
