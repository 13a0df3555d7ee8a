"""The safety judge as a job: CLUE's cascade (``judge``) over a project's items or one of its
corpora, against one constitution version; each (item, rule) decision becomes a Suggestion
with its trace. Resumable: a requeued job skips the items it already judged."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from annotation.models import Constitution, Project, ProjectItem, Suggestion
from core.errors import DomainError
from core.models import Job
from core.services.jobs import JobCancelled, job_cancel_requested, job_create, job_progress
from corpora.models import Item
from curation.models import JudgeRun
from curation.services.texts import item_text
from judge.config import JudgeConfig
from judge.rules import JudgeRule

JOB_KIND = Job.Kind.SAFETY_JUDGE
MAX_NAME = 500
CHUNK = 16
VIOLATES, CLEAR = "violates", "does_not_violate"


def judge_config_clean(data: Any) -> dict[str, Any]:
    """{"vlm": name or path, "relevance": name or path or "", "detector": ..., "thresholds":
    JudgeConfig values}: validated with the library's own type."""
    if not isinstance(data, dict):
        raise DomainError("invalid_judge_config", "The judge configuration is an object.")
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    for key, required in (("vlm", True), ("relevance", False), ("detector", False)):
        value = data.get(key) or ""
        if not isinstance(value, str) or len(value) > MAX_NAME or (required and not value.strip()):
            errors[key] = [f"A model name or path of at most {MAX_NAME} characters."]
        else:
            out[key] = value.strip()
    rubric = data.get("rubric", False)
    if not isinstance(rubric, bool):
        errors["rubric"] = ["true or false: also answer the rubric's yes/no questions."]
    out["rubric"] = bool(rubric)
    unknown = sorted(set(data) - {"vlm", "relevance", "detector", "thresholds", "rubric"})
    if unknown:
        errors["config"] = [f"Unknown keys: {', '.join(unknown)}."]
    try:
        out["thresholds"] = JudgeConfig.from_json(data.get("thresholds")).to_json()
    except (TypeError, ValueError) as exc:
        errors["thresholds"] = [str(exc)]
    if errors:
        raise DomainError(
            "invalid_judge_config", "The judge configuration is invalid.", details=errors
        )
    return out


def judge_run_start(
    *,
    project: Project,
    config: Any,
    constitution_version: int | None = None,
    corpus_id: int | None = None,
    created_by=None,
) -> JudgeRun:
    clean = judge_config_clean(config)
    constitutions = Constitution.objects.filter(project=project)
    if constitution_version is not None:
        constitutions = constitutions.filter(version=constitution_version)
    constitution = constitutions.order_by("-version").first()
    if constitution is None:
        raise DomainError(
            "no_constitution",
            "The project has no such constitution version.",
            status=404 if constitution_version is not None else 400,
        )
    if corpus_id is not None and not project.corpora.filter(pk=corpus_id).exists():
        raise DomainError("not_found", "The project has no such corpus.", status=404)
    with transaction.atomic():
        job = job_create(kind=JOB_KIND, params={}, created_by=created_by)
        run = JudgeRun.objects.create(
            project=project,
            constitution=constitution,
            corpus_id=corpus_id,
            job=job,
            config=clean,
            created_by=created_by,
        )
        job.params = {"run_id": run.pk}
        job.save(update_fields=["params"])
        transaction.on_commit(lambda: judge_run_dispatch(run.pk))
    return run


def judge_run_dispatch(run_id: int) -> None:
    from workers.judge_tasks import judge_run_task
    from workers.queues import heavy_queue

    judge_run_task.apply_async(args=[run_id], queue=heavy_queue())


def _item_ids(run: JudgeRun) -> list[int]:
    if run.corpus_id is not None:
        qs = Item.objects.filter(corpus_id=run.corpus_id)
        return list(qs.order_by("pk").values_list("pk", flat=True))
    qs = ProjectItem.objects.filter(project_id=run.project_id, is_gold=False)
    return sorted(qs.values_list("item_id", flat=True))


def judge_rules(constitution: Constitution) -> list[JudgeRule]:
    return [
        JudgeRule.from_json(
            {
                "key": r.key,
                "text": r.text,
                "objectified": r.objectified,
                "preconditions": r.preconditions,
                "central_objects": r.central_objects,
            }
        )
        for r in constitution.rules.order_by("position")
    ]


_JUDGES: dict[str, Any] = {}
_JUDGES_LOCK = threading.Lock()


def judge_build(config: dict[str, Any]) -> Any:
    """The cascade over loaded sources; one per worker process and configuration (a VLM is
    loaded once, not once per job)."""
    from judge.cascade import Judge
    from judge.hf import ClipRelevanceSource, OwlDetectorSource, PilEditor, VisionLanguageSource

    key = repr(sorted((k, v) for k, v in config.items() if k != "thresholds"))
    with _JUDGES_LOCK:
        sources = _JUDGES.get(key)
        if sources is None:
            device = getattr(settings, "ARBITER_JUDGE_DEVICE", None)
            try:
                sources = (
                    VisionLanguageSource(
                        config["vlm"], device=device, batch_size=settings.ARBITER_JUDGE_BATCH_SIZE
                    ),
                    ClipRelevanceSource(config["relevance"], device=device)
                    if config.get("relevance")
                    else None,
                    OwlDetectorSource(config["detector"], device=device)
                    if config.get("detector")
                    else None,
                )
            except (OSError, ValueError) as exc:
                raise DomainError(
                    "judge_model_unavailable",
                    "A judge model could not be loaded: check the names and paths.",
                    details={
                        "models": {k: config.get(k) for k in ("vlm", "relevance", "detector")},
                        "reason": str(exc)[:300],
                    },
                ) from exc
            _JUDGES.clear()  # one configuration held at a time: VLMs are large
            _JUDGES[key] = sources
    vlm, relevance, detector = sources
    return Judge(
        vlm,
        relevance=relevance,
        detector=detector,
        editor=PilEditor(),
        config=JudgeConfig.from_json(config["thresholds"]),
    )


def _question_key(project: Project) -> str:
    questions = getattr(getattr(project, "rubric", None), "questions", None) or []
    return next((q["key"] for q in questions if q.get("type") == "rule_verdict"), "safety")


def judge_run_execute(*, run: JudgeRun, job: Job) -> dict[str, Any]:
    rules = judge_rules(run.constitution)
    ids = _item_ids(run)
    JudgeRun.objects.filter(pk=run.pk).update(items_total=len(ids))
    done = set(
        Suggestion.objects.filter(judge_run_id=run.pk).values_list("item_id", flat=True).distinct()
    )
    todo = [i for i in ids if i not in done]
    judge = judge_build(run.config)
    question = _question_key(run.project)
    # the rubric's yes/no questions, answered by the same debiased probability when asked
    questions = getattr(getattr(run.project, "rubric", None), "questions", None) or []
    binary = [q for q in questions if q.get("type") == "binary"] if run.config.get("rubric") else []
    media = Path(settings.MEDIA_ROOT)
    judged, no_image, violations = len(done), 0, 0
    job_progress(job_id=job.pk, current=judged, total=len(ids), message="Judging.")
    for start in range(0, len(todo), CHUNK):
        if job_cancel_requested(job.pk):
            raise JobCancelled()
        items = Item.objects.filter(pk__in=todo[start : start + CHUNK]).select_related("image")
        rows = []
        pictures: list[tuple[Item, bytes]] = []
        for item in items.order_by("pk"):
            if item.image is None:
                no_image += 1
                continue
            with open(media / item.image.file, "rb") as fh:
                pictures.append((item, fh.read()))
        # the chunk's (image, rule) checks advance together: one VLM call per round serves all
        decided = judge.judge_batch([image for _, image in pictures], rules)
        for (item, image), decisions in zip(pictures, decided, strict=True):
            context = item_text(item.conversations or [], item.questions)[:4000]
            for q in binary:
                answer = judge.yes_no_question(image, q["prompt"], context)
                rows.append(
                    Suggestion(
                        item=item,
                        question_key=q["key"],
                        value=answer["answer"],
                        score=answer["confidence"],
                        model_version=run.model_version,
                        rule_key="",
                        judge_run_id=None,
                        trace={"judge_run_id": run.pk, **answer},
                    )
                )
            for decision in decisions:
                violations += decision.violated
                rows.append(
                    Suggestion(
                        item=item,
                        question_key=question,
                        value={"verdict": VIOLATES if decision.violated else CLEAR},
                        score=_score_of(decision.trace),
                        model_version=run.model_version,
                        rule_key=decision.rule,
                        constitution=run.constitution,
                        judge_run_id=run.pk,
                        trace={"decided_by": decision.decided_by, **decision.trace},
                    )
                )
        # one item's rules are written together, so a resumed job never half-judges an item
        with transaction.atomic():
            Suggestion.objects.bulk_create(rows, ignore_conflicts=True)
        judged += len(items)
        job_progress(job_id=job.pk, current=judged, total=len(ids), message="Judging.")
    return {
        "items": len(ids),
        "judged": judged,
        "without_image": no_image,
        "rules": len(rules),
        "violations": violations,
        "judge": judge.describe(),
    }


def _score_of(trace: dict[str, Any]) -> float | None:
    """The last M(x, c) the decision read: how strongly the model saw the last checked content."""
    for entry in reversed(trace.get("preconditions") or []):
        for alternative in reversed(entry["alternatives"]):
            return alternative["steps"][0].get("m")
    return None


def judge_run_requeue(job: Job) -> None:
    judge_run_dispatch(JudgeRun.objects.get(job=job).pk)
