"""CLUE's zero-shot judge: one decision per (image, rule), every number in its trace.

Per rule: (1) the relevance scan may skip it; (2) its preconditions are checked in order (an
AND of ORs), and the first precondition that is not met ends the rule as not violated;
(3) each alternative is decided by the debiased yes/no probability compared with the no-image
query, then with the central object removed; (4) only when both are inconclusive, by cascaded
reasoning (free text, then a JSON verdict).
"""

from __future__ import annotations

import json
import re
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from judge.config import JudgeConfig
from judge.rules import JudgeRule
from judge.sources import (
    REASON_PROMPT,
    VERDICT_PROMPT,
    VISIBLE_PROMPT,
    DetectorSource,
    ImageEditor,
    RelevanceSource,
    YesNoSource,
    debiased,
)

MET, NOT_MET, INCONCLUSIVE = "met", "not_met", "inconclusive"

# a yes/no query: (image, or None for the no-image question; content)
Query = tuple[Any, str]
T = TypeVar("T")


def _query_key(query: Query) -> tuple[int | None, str]:
    """Queries are the same when they ask about the same image object and content."""
    image, content = query
    return (None if image is None else id(image), content)


@dataclass
class Decision:
    rule: str
    violated: bool
    decided_by: str  # relevance | preconditions
    trace: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "violated": self.violated,
            "decided_by": self.decided_by,
            "trace": self.trace,
        }


def _r(value: float) -> float:
    return round(float(value), 6)


def parse_verdict(text: str) -> tuple[bool | None, str]:
    """The first JSON object in ``text`` with a boolean ``visible``; else a bare yes/no."""
    for match in re.finditer(r"\{[^{}]*\}", text):
        try:
            data = json.loads(match.group(0))
        except ValueError:
            continue
        if isinstance(data, dict) and isinstance(data.get("visible"), bool):
            return data["visible"], str(data.get("rationale", ""))[:500]
    lowered = text.strip().lower()
    if lowered.startswith("yes"):
        return True, ""
    if lowered.startswith("no"):
        return False, ""
    return None, ""


class Judge:
    """The cascade over its sources. ``relevance`` and ``detector`` may be ``None`` (their steps
    are then recorded as unavailable); ``editor`` edits images for the removal step."""

    def __init__(
        self,
        vlm: YesNoSource,
        *,
        relevance: RelevanceSource | None = None,
        detector: DetectorSource | None = None,
        editor: ImageEditor | None = None,
        config: JudgeConfig | None = None,
    ) -> None:
        self.vlm = vlm
        self.relevance = relevance
        self.detector = detector
        self.editor = editor
        self.config = config or JudgeConfig()
        self._checks = 0
        self._none_cache: dict[str, float] = {}
        # detections per (image, objects) while one call of judge/judge_batch runs (the image
        # is kept with them, so its id cannot be reused by another image meanwhile)
        self._detections: dict[tuple[int, tuple[str, ...]], tuple[Any, list[Any]]] = {}

    def describe(self) -> dict[str, Any]:
        """What a decision was made with: the sources' names and every threshold."""
        return {
            "vlm": self.vlm.name,
            "relevance": getattr(self.relevance, "name", None),
            "detector": getattr(self.detector, "name", None),
            "config": self.config.to_json(),
        }

    # -- the yes/no queries --------------------------------------------------------------------
    # The steps below are generators: each yields the (image or None, content) queries it needs
    # next and is sent back their M values. Driven one at a time (``judge``) or many in lockstep
    # with every pending query of every (image, rule) in one call to the VLM (``judge_batch``):
    # the same queries, in the same dependency order, so the same decisions and traces.
    def _answer(self, queries: Sequence[Query]) -> list[float]:
        """M for each query, asked in one call; a no-image answer does not depend on the image
        and is asked once per content (cached), and a query repeated in the batch once."""
        keys = [_query_key(q) for q in queries]
        ask: dict[tuple[int | None, str], Query] = {}
        for key, query in zip(keys, queries, strict=True):
            if key not in ask and not (query[0] is None and query[1] in self._none_cache):
                ask[key] = query
        if ask:
            asked = list(ask.values())
            prompts = [VISIBLE_PROMPT.format(content=c) for _, c in asked]
            pairs = self.vlm.yes_no([im for im, _ in asked], prompts)
            got = {k: debiased(y, n) for k, (y, n) in zip(ask, pairs, strict=True)}
            for (image, content), value in zip(asked, got.values(), strict=True):
                if image is None:
                    self._none_cache[content] = value
        else:
            got = {}
        return [
            self._none_cache[q[1]] if q[0] is None and k not in got else got[k]
            for k, q in zip(keys, queries, strict=True)
        ]

    def _m(self, images: Sequence[Any | None], content: str) -> list[float]:
        return self._answer([(im, content) for im in images])

    def _m_none(self, content: str) -> float:
        return self._answer([(None, content)])[0]

    def _drive(self, steps: Generator[list[Query], list[float], T]) -> T:
        """Run one generator of steps to its end, answering each of its queries at once."""
        try:
            queries = next(steps)
            while True:
                queries = steps.send(self._answer(queries))
        except StopIteration as stop:
            return stop.value

    # -- the steps -------------------------------------------------------------------------
    def _removal(
        self, image: Any, rule: JudgeRule, m: float, content: str
    ) -> Generator[list[Query], list[float], dict[str, Any]]:
        cfg = self.config
        step: dict[str, Any] = {"step": "object_removal", "objects": list(rule.central_objects)}
        if self.detector is None or self.editor is None:
            return {**step, "outcome": INCONCLUSIVE, "reason": "no detector"}
        # every alternative of a rule looks for the same objects in the same image: detected once
        key = (id(image), rule.central_objects)
        if key not in self._detections:
            self._detections[key] = (image, self.detector.detect(
                image, list(rule.central_objects), cfg.detection_confidence
            ))  # fmt: skip
        boxes = self._detections[key][1]
        step["detections"] = [b.to_json() for b in boxes]
        if not boxes:
            return {**step, "outcome": INCONCLUSIVE, "reason": "not detected"}
        width, height = self.editor.size(image)
        best = max(boxes, key=lambda b: b.score)
        share = best.area() / max(1.0, float(width * height))
        step["region_share"] = _r(share)
        if share < cfg.crop_below_area:
            # a tiny object barely moves the answer on the whole image: judge a crop around it
            view = self.editor.crop(image, best)
            step["cropped"] = True
            m_view, m_removed = yield [(view, content), (self.editor.remove(view, [best]), content)]
        else:
            step["cropped"] = False
            m_view = m
            (m_removed,) = yield [(self.editor.remove(image, boxes), content)]
        diff = m_view - m_removed
        step.update(m_view=_r(m_view), m_removed=_r(m_removed), diff=_r(diff))
        step["bound"] = cfg.removal_margin
        step["outcome"] = MET if diff > cfg.removal_margin else INCONCLUSIVE
        return step

    def _reason(self, image: Any, content: str, m: float) -> dict[str, Any]:
        cfg = self.config
        reasoning = self.vlm.generate(
            image, REASON_PROMPT.format(content=content), cfg.reasoning_tokens
        )
        raw = self.vlm.generate(
            image,
            VERDICT_PROMPT.format(content=content, reasoning=reasoning[:2000]),
            cfg.verdict_tokens,
        )
        visible, rationale = parse_verdict(raw)
        step: dict[str, Any] = {
            "step": "reasoning",
            "reasoning": reasoning[:2000],
            "raw_verdict": raw[:1000],
            "rationale": rationale,
        }
        if visible is None:
            step.update(parsed=False, fallback_threshold=cfg.fallback_threshold)
            visible = m > cfg.fallback_threshold
        else:
            step["parsed"] = True
        step["outcome"] = MET if visible else NOT_MET
        return step

    def check(self, image: Any, rule: JudgeRule, content: str) -> dict[str, Any]:
        """Decide one alternative: met or not, with the steps that decided it."""
        self._detections.clear()
        try:
            return self._drive(self._check(image, rule, content))
        finally:
            self._detections.clear()

    def _check(
        self, image: Any, rule: JudgeRule, content: str
    ) -> Generator[list[Query], list[float], dict[str, Any]]:
        cfg = self.config
        index = self._checks
        self._checks += 1
        steps: list[dict[str, Any]] = []
        if cfg.debias:
            m, m_none = yield [(image, content), (None, content)]
            prior = "no_image"
        else:
            (m,) = yield [(image, content)]
            m_none, prior = 0.5, "fixed"
        diff = m - m_none
        low, high = -cfg.debias_low * m_none, cfg.debias_high * (1.0 - m_none)
        outcome = NOT_MET if diff < low else MET if diff > high else INCONCLUSIVE
        decided_by = "debiased"
        steps.append(
            {
                "step": "debiased",
                "m": _r(m),
                "m_none": _r(m_none),
                "prior": prior,
                "diff": _r(diff),
                "low": _r(low),
                "high": _r(high),
                "outcome": outcome,
            }
        )
        if outcome == INCONCLUSIVE and cfg.object_removal and rule.central_objects:
            step = yield from self._removal(image, rule, m, content)
            steps.append(step)
            outcome = step["outcome"]
            decided_by = "object_removal"
        # a benchmark knob: reasoning on a fixed share of checks (spread evenly by check index)
        share = cfg.force_cascade_share
        forced = share > 0 and int((index + 1) * share) > int(index * share)
        if outcome == INCONCLUSIVE or forced:
            if cfg.cascade or forced:
                step = self._reason(image, content, m)
                step["forced"] = forced
                steps.append(step)
            if outcome == INCONCLUSIVE and cfg.cascade:
                outcome, decided_by = step["outcome"], "reasoning"
            elif outcome == INCONCLUSIVE:
                outcome, decided_by = (MET if m > cfg.fallback_threshold else NOT_MET), "fallback"
                steps.append(
                    {
                        "step": "fallback",
                        "m": _r(m),
                        "threshold": cfg.fallback_threshold,
                        "outcome": outcome,
                    }
                )
        return {"content": content, "outcome": outcome, "decided_by": decided_by, "steps": steps}

    # -- a rule ------------------------------------------------------------------------------
    def judge(self, image: Any, rule: JudgeRule) -> Decision:
        self._detections.clear()
        try:
            return self._drive(self._judge(image, rule, None))
        finally:
            self._detections.clear()

    def _judge(
        self, image: Any, rule: JudgeRule, relevance: float | None
    ) -> Generator[list[Query], list[float], Decision]:
        """One rule on one image; ``relevance``: its scan score when already computed."""
        cfg = self.config
        trace: dict[str, Any] = {"rule": rule.key, "config": cfg.to_json(), "preconditions": []}
        if cfg.relevance and self.relevance is not None:
            if relevance is None:
                relevance = self.relevance.similarity(image, [rule.scan_text])[0]
            skipped = relevance < cfg.relevance_threshold
            trace["relevance"] = {
                "score": _r(relevance),
                "threshold": cfg.relevance_threshold,
                "skipped": skipped,
            }
            if skipped:
                trace["stopped_at"] = "relevance"
                return Decision(rule.key, False, "relevance", trace)
        else:
            trace["relevance"] = {"skipped": False, "off": True}
        for position, alternatives in enumerate(rule.chain):
            entry: dict[str, Any] = {"position": position, "alternatives": []}
            trace["preconditions"].append(entry)
            met = False
            for content in alternatives:
                result = yield from self._check(image, rule, content)
                entry["alternatives"].append(result)
                if result["outcome"] == MET:
                    met = True
                    break  # one alternative is enough (OR)
            entry["met"] = met
            if not met:
                trace["stopped_at"] = position  # the first miss ends the AND-chain
                return Decision(rule.key, False, "preconditions", trace)
        trace["stopped_at"] = None
        return Decision(rule.key, True, "preconditions", trace)

    def judge_all(self, image: Any, rules: Sequence[JudgeRule]) -> list[Decision]:
        return [self.judge(image, rule) for rule in rules]

    def judge_batch(
        self, images: Sequence[Any], rules: Sequence[JudgeRule]
    ) -> list[list[Decision]]:
        """Every rule on every image, the decisions per image in rule order, as ``judge_all``
        gives them; every (image, rule) advances in lockstep, and each round's yes/no queries
        of all of them (with the image, without it, with the object removed) go to the VLM in
        one call, which the source runs in batches. The relevance scan asks once per image for
        all the rules' texts."""
        self._detections.clear()
        try:
            return self._judge_batch(images, rules)
        finally:
            self._detections.clear()

    def _judge_batch(
        self, images: Sequence[Any], rules: Sequence[JudgeRule]
    ) -> list[list[Decision]]:
        scores: list[list[float | None]] = []
        for image in images:
            if self.config.relevance and self.relevance is not None and rules:
                scores.append(list(self.relevance.similarity(image, [r.scan_text for r in rules])))
            else:
                scores.append([None] * len(rules))
        running: dict[tuple[int, int], Generator[list[Query], list[float], Decision]] = {}
        out: list[list[Decision | None]] = [[None] * len(rules) for _ in images]
        pending: dict[tuple[int, int], list[Query]] = {}
        for i, image in enumerate(images):
            for j, rule in enumerate(rules):
                steps = self._judge(image, rule, scores[i][j])
                try:
                    pending[(i, j)] = next(steps)
                    running[(i, j)] = steps
                except StopIteration as stop:
                    out[i][j] = stop.value
        while pending:
            order = list(pending)
            answers = self._answer([q for key in order for q in pending[key]])
            at = 0
            for key in order:
                n = len(pending[key])
                reply, at = answers[at : at + n], at + n
                try:
                    pending[key] = running[key].send(reply)
                except StopIteration as stop:
                    out[key[0]][key[1]] = stop.value
                    del pending[key], running[key]
        return [[d for d in row if d is not None] for row in out]

    # -- rubric yes/no questions -------------------------------------------------------------
    def yes_no_question(self, image: Any, question: str, context: str = "") -> dict[str, Any]:
        """A rubric's yes/no question answered by the debiased probability: the answer and the
        numbers. ``context`` (the conversation) is put before the question."""
        content = f"{context.strip()[:4000]}\n{question.strip()}".strip()
        m = self._m([image], content)[0]
        m_none = self._m_none(content) if self.config.debias else 0.5
        diff = m - m_none
        return {
            "answer": bool(diff > 0.0) if self.config.debias else bool(m > 0.5),
            "m": _r(m),
            "m_none": _r(m_none),
            "diff": _r(diff),
            # how sure: the debiased shift as a share of the room it had to move
            "confidence": _r(abs(diff) / max(1e-6, (1 - m_none) if diff > 0 else m_none)),
        }
