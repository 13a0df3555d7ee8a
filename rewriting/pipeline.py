"""Rewrite, review and guard a batch of turns: the one loop the job, the bench and a notebook
share.

For every unit (one question or answer of one turn) the LLM writes a rewrite; the same LLM then
chooses between original and rewrite shown in both orders (A/B then B/A): only a choice that
holds in both orders counts, a flip is a tie and keeps the original. The per-token likelihood of
both texts under the LLM is recorded. Guards run on every rewrite; one failure keeps the
original. What is kept, and why, is in the result.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from rewardmodel.causal_lm import CausalLM, chat_prompt
from rewriting.guards import Embed, GuardSettings, guards_check
from rewriting.lm import answer_nll, chat_answer_prefix, choose_letter, generate
from rewriting.prompts import (
    DEFAULT_PROMPT_VERSION,
    DEFAULT_REVIEW_VERSION,
    REVIEW_PROMPTS,
    rewrite_prompt,
)

FIELDS = ("question", "answer")
GRANULARITIES = ("turn", "sentence")
# a sentence ends at . ! or ? followed by space and a capital, digit or quote; a wrong split
# ("e.g. The") only makes two shorter pieces, each still guarded
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'])")


@dataclass(frozen=True)
class RewriteSettings:
    prompt_version: str = DEFAULT_PROMPT_VERSION
    custom_prompt: str | None = None
    review_version: str = DEFAULT_REVIEW_VERSION
    fields: tuple[str, ...] = ("answer",)
    temperature: float = 0.0  # 0: greedy
    top_p: float = 1.0
    max_new_tokens: int = 256
    batch_size: int = 8
    seed: int = 0
    review: bool = True
    review_margin: float = 0.0  # |log P(A) - log P(B)| at or below this is no choice
    # "sentence": each sentence is rewritten on its own and guarded on its own (a sentence that
    # fails a guard keeps its original wording); the joined text then meets every guard again
    # as a whole, as in "turn" mode. Small LLMs stay faithful on short inputs far more often.
    granularity: str = "turn"

    def __post_init__(self) -> None:
        if not self.fields or any(f not in FIELDS for f in self.fields):
            raise ValueError(f"fields must be a non-empty subset of {FIELDS}")
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError("temperature must be in [0, 2]")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError("top_p must be in (0, 1]")
        if not 1 <= self.max_new_tokens <= 2048:
            raise ValueError("max_new_tokens must be in [1, 2048]")
        if not 1 <= self.batch_size <= 256:
            raise ValueError("batch_size must be in [1, 256]")
        if self.review_version not in REVIEW_PROMPTS:
            raise ValueError(f"unknown review prompt version {self.review_version!r}")
        if self.review_margin < 0:
            raise ValueError("review_margin must be >= 0")
        if self.granularity not in GRANULARITIES:
            raise ValueError(f"granularity must be one of {GRANULARITIES}")
        rewrite_prompt(self.prompt_version, custom=self.custom_prompt)  # validates

    @property
    def resolved_prompt_version(self) -> str:
        return rewrite_prompt(self.prompt_version, custom=self.custom_prompt).version


@dataclass(frozen=True)
class Unit:
    """One text to rewrite: ``field`` of turn ``turn`` of item ``item_id``."""

    item_id: str
    turn: int
    field: str
    text: str
    question: str = ""  # the turn's question, context for rewriting an answer


@dataclass
class UnitResult:
    item_id: str
    turn: int
    field: str
    original: str
    rewrite: str
    kept: str  # "rewrite" or "original"
    # why: "accepted", "guard:<names>", "review:original", "review:tie", "empty", "unchanged"
    reason: str
    review: dict[str, Any] = field(default_factory=dict)
    nll_original: float | None = None
    nll_rewrite: float | None = None
    guards: list[dict[str, Any]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.rewrite if self.kept == "rewrite" else self.original

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def review_verdict(a_first: float, a_second: float, margin: float = 0.0) -> tuple[str, str]:
    """(kept, reason) from the two orders' log P(A) - log P(B).

    Order 1 shows (A=original, B=rewrite), order 2 (A=rewrite, B=original): the rewrite wins
    only if it is chosen in both orders; the original wins if chosen in both; else a tie.
    """
    first = "original" if a_first > margin else "rewrite" if a_first < -margin else None
    second = "rewrite" if a_second > margin else "original" if a_second < -margin else None
    if first == second == "rewrite":
        return "rewrite", "accepted"
    if first == second == "original":
        return "original", "review:original"
    return "original", "review:tie"


def _finite(x: float) -> float | None:
    return None if math.isnan(x) or math.isinf(x) else round(x, 6)


def sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text.strip()) if s]


def _rewrites(
    lm: CausalLM,
    batch: Sequence[Unit],
    settings: RewriteSettings,
    guard_settings: GuardSettings,
    *,
    embed: Embed | None,
    seed: int,
) -> list[str]:
    """One rewrite per unit: of the whole text, or sentence by sentence with each sentence
    guarded (a failing sentence keeps its original words)."""
    prompt = rewrite_prompt(settings.prompt_version, custom=settings.custom_prompt)

    def render(u: Unit, text: str) -> str:
        system, user = prompt.render(field=u.field, text=text, question=u.question)
        return chat_prompt(lm, system, user, prompt.history(field=u.field))

    def run(prompts: list[str], offset: int) -> list[str]:
        return generate(
            lm, prompts, max_new_tokens=settings.max_new_tokens, temperature=settings.temperature,
            top_p=settings.top_p, seed=offset,
        )  # fmt: skip

    if settings.granularity == "turn":
        return run([render(u, u.text) for u in batch], seed)
    pieces = [(i, piece) for i, u in enumerate(batch) for piece in sentences(u.text)]
    rendered = [render(batch[i], piece) for i, piece in pieces]
    written: list[str] = []
    for start in range(0, len(rendered), settings.batch_size):
        written += run(rendered[start : start + settings.batch_size], seed + start)
    checks = guards_check([p for _, p in pieces], written, guard_settings, embed=embed)
    out: list[list[str]] = [[] for _ in batch]
    for (i, piece), new, guards in zip(pieces, written, checks, strict=True):
        ok = new.strip() and all(g.passed for g in guards)
        out[i].append(new.strip() if ok else piece)
    return [" ".join(parts) for parts in out]


def rewrite_units(
    lm: CausalLM,
    units: Sequence[Unit],
    settings: RewriteSettings,
    guard_settings: GuardSettings,
    *,
    embed: Embed | None = None,
    progress: Callable[[int, int], bool | None] | None = None,
) -> list[UnitResult]:
    """Rewrite, review and guard ``units`` in batches; ``progress(done, total)`` returning
    False stops early (the results so far are returned)."""
    review_prompt = REVIEW_PROMPTS[settings.review_version]
    results: list[UnitResult] = []
    for start in range(0, len(units), settings.batch_size):
        batch = units[start : start + settings.batch_size]
        rewrites = _rewrites(lm, batch, settings, guard_settings, embed=embed,
                             seed=settings.seed + start)  # fmt: skip
        # likelihood of each text as the model's own reply to its turn
        prefixes = [
            chat_answer_prefix(lm, u.question if u.field == "answer" else "") for u in batch
        ]
        nll_o = answer_nll(lm, prefixes, [u.text for u in batch])
        nll_r = answer_nll(lm, prefixes, rewrites)
        checks = guards_check([u.text for u in batch], rewrites, guard_settings, embed=embed)
        margins: list[tuple[float, float]] = [(0.0, 0.0)] * len(batch)
        if settings.review:
            review_prompts: list[str] = []
            for u, r in zip(batch, rewrites, strict=True):
                question = u.question if u.field == "answer" else ""
                review_prompts.append(
                    chat_prompt(
                        lm, *review_prompt.render(question=question, first=u.text, second=r)
                    )
                )
                review_prompts.append(
                    chat_prompt(
                        lm, *review_prompt.render(question=question, first=r, second=u.text)
                    )
                )
            scores = choose_letter(lm, review_prompts)
            margins = [(scores[2 * i], scores[2 * i + 1]) for i in range(len(batch))]
        for u, r, guards, (m1, m2), no, nr in zip(
            batch, rewrites, checks, margins, nll_o, nll_r, strict=True
        ):
            review: dict[str, Any] = {}
            if settings.review:
                verdict, why = review_verdict(m1, m2, settings.review_margin)
                review = {"original_first": round(m1, 4), "rewrite_first": round(m2, 4),
                          "choice": verdict if why != "review:tie" else "tie"}  # fmt: skip
            failed = [g.name for g in guards if not g.passed]
            if not r.strip():
                kept, reason = "original", "empty"
            elif r.strip() == u.text.strip():
                kept, reason = "original", "unchanged"
            elif failed:
                kept, reason = "original", "guard:" + ",".join(failed)
            elif settings.review:
                kept, reason = verdict, why
            else:
                kept, reason = "rewrite", "accepted"
            results.append(UnitResult(
                item_id=u.item_id, turn=u.turn, field=u.field, original=u.text, rewrite=r,
                kept=kept, reason=reason, review=review, nll_original=_finite(no),
                nll_rewrite=_finite(nr), guards=[g.as_dict() for g in guards],
            ))  # fmt: skip
        if progress is not None and progress(len(results), len(units)) is False:
            break
    return results


def record_units(record: dict[str, Any], fields: Sequence[str]) -> list[Unit]:
    """The units of a LLaVA record (``conversations`` of human/gpt messages)."""
    units: list[Unit] = []
    question, turn = "", 0
    item_id = str(record.get("id", ""))
    for message in record.get("conversations", []):
        value = message.get("value")
        if not isinstance(value, str):
            if message.get("from") != "human":
                turn += 1  # candidate lists are curated before rewriting: left as they are
            continue
        if message.get("from") == "human":
            question = value.replace("<image>", "").strip()
            if "question" in fields and question:
                units.append(Unit(item_id, turn, "question", question))
            continue
        if "answer" in fields and value.strip():
            units.append(Unit(item_id, turn, "answer", value, question=question))
        turn += 1
    return units


def record_apply(record: dict[str, Any], results: Sequence[UnitResult]) -> dict[str, Any]:
    """A copy of ``record`` with the kept text of each result in place (``<image>`` kept)."""
    kept = {(r.turn, r.field): r.text for r in results}
    out = dict(record)
    conversations = []
    turn = 0
    for message in record.get("conversations", []):
        message = dict(message)
        value = message.get("value")
        if isinstance(value, str):
            if message.get("from") == "human":
                text = kept.get((turn, "question"))
                if text is not None:
                    tag = "<image>\n" if "<image>" in value else ""
                    message["value"] = tag + text
            else:
                text = kept.get((turn, "answer"))
                if text is not None:
                    message["value"] = text
                turn += 1
        elif message.get("from") != "human":
            turn += 1
        conversations.append(message)
    out["conversations"] = conversations
    return out
