"""Precondition proposals: the helper LLM named by ``ARBITER_JUDGE_HELPER_LLM`` proposes a rule's
preconditions and central objects (``judge.proposals``) as a short job; the constitution editor
polls it and shows the proposal for a person to accept. Nothing is saved here: the proposal is
the job's result, and only the person's save of the constitution makes it a rule's checks.

A request names the rule's text, never a model: the server loads only the configured LLM.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction

from annotation.models import Project
from core.errors import DomainError
from core.models import Job
from core.services.jobs import JobCancelled, job_cancel_requested, job_create, job_progress

JOB_KIND = Job.Kind.JUDGE_PROPOSAL
MAX_TEXT = 1000
# a person clicking "Propose" on many rules queues this many at most; more wait their turn
MAX_IN_FLIGHT_PER_USER = 4
# how often generation asks whether the job was cancelled (a query each time)
CANCEL_CHECK_S = 0.5

_LOADED: dict[str, Any] = {}
_LOAD_LOCK = threading.Lock()


def judge_helper_llm_name() -> str:
    """The configured helper LLM ("" when proposals are off)."""
    return (getattr(settings, "ARBITER_JUDGE_HELPER_LLM", "") or "").strip()


def judge_proposal_start(
    *, project: Project, text: str, objectified: str = "", created_by: Any = None
) -> Job:
    """Queue a proposal for one rule's text; the job's result holds it."""
    llm = judge_helper_llm_name()
    if not llm:
        raise DomainError(
            "helper_llm_off",
            "No helper LLM is configured: set ARBITER_JUDGE_HELPER_LLM to propose preconditions.",
            status=409,
        )
    text, objectified = str(text or "").strip(), str(objectified or "").strip()
    if not text and not objectified:
        raise DomainError("invalid_rule", "The rule needs its text or its objectified check.")
    if len(text) > MAX_TEXT or len(objectified) > MAX_TEXT:
        raise DomainError("invalid_rule", f"A rule's text is at most {MAX_TEXT} characters here.")
    user = created_by if getattr(created_by, "is_authenticated", False) else None
    if user is not None:
        busy = Job.objects.filter(
            kind=JOB_KIND,
            created_by=user,
            status__in=[Job.Status.QUEUED, Job.Status.RUNNING],
        ).count()
        if busy >= MAX_IN_FLIGHT_PER_USER:
            raise DomainError(
                "too_many_proposals",
                f"{busy} proposals are still being written: wait for them first.",
                status=429,
            )
    with transaction.atomic():
        job = job_create(
            kind=JOB_KIND,
            params={"project_id": project.pk, "text": text, "objectified": objectified},
            created_by=user,
        )
        transaction.on_commit(lambda: judge_proposal_dispatch(job.pk))
    return job


def judge_proposal_dispatch(job_id: int) -> None:
    from workers.judge_tasks import judge_proposal_task
    from workers.queues import heavy_queue

    judge_proposal_task.apply_async(args=[job_id], queue=heavy_queue())


def _helper_lm() -> Any:
    """The configured LLM, loaded once per worker process (reloaded if the setting changed)."""
    from judge.proposals import HelperLM
    from rewardmodel.gguf import llm_path

    name = judge_helper_llm_name()
    with _LOAD_LOCK:
        if _LOADED.get("name") != name:
            try:
                path = llm_path(name, settings.ARTIFACTS_ROOT / "models")
                lm = HelperLM(path, device=getattr(settings, "ARBITER_JUDGE_DEVICE", None),
                              name=name)  # fmt: skip
            except (OSError, ValueError) as exc:
                raise DomainError(
                    "helper_llm_unavailable",
                    "The helper LLM could not be loaded: check ARBITER_JUDGE_HELPER_LLM.",
                    details={"llm": name, "reason": str(exc)[:300]},
                ) from exc
            _LOADED.clear()
            _LOADED.update(name=name, lm=lm)
        return _LOADED["lm"]


def judge_proposal_execute(*, job: Job) -> dict[str, Any]:
    """The job's body: the proposal (or none, with the reason) as the job's result."""
    from judge.proposals import ProposalStopped, preconditions_propose

    job_progress(job_id=job.pk, current=0, total=2, message="Loading the helper LLM.")
    lm = _helper_lm()
    if job_cancel_requested(job.pk):
        raise JobCancelled()
    job_progress(job_id=job.pk, current=1, total=2, message="Writing the proposal.")
    try:
        result = preconditions_propose(
            lm,
            text=job.params.get("text", ""),
            objectified=job.params.get("objectified", ""),
            should_stop=_cancel_check(job.pk),
        )
    except ProposalStopped:
        raise JobCancelled() from None
    job_progress(job_id=job.pk, current=2, total=2, message="Done.")
    return result.to_json()


def _cancel_check(job_id: int) -> Callable[[], bool]:
    """Whether the job was cancelled, asked at most every CANCEL_CHECK_S (the model asks after
    every token); once cancelled, always true."""
    state = {"at": time.monotonic(), "cancelled": False}

    def cancelled() -> bool:
        if not state["cancelled"] and time.monotonic() - state["at"] >= CANCEL_CHECK_S:
            state["at"] = time.monotonic()
            state["cancelled"] = job_cancel_requested(job_id)
        return bool(state["cancelled"])

    return cancelled


def judge_proposal_requeue(job: Job) -> None:
    judge_proposal_dispatch(job.pk)  # nothing was written: it is simply asked again
