"""Rubric questions and the answers to them: validation of both.

Answer formats (what `answers[question_key]` holds):
- rating: int on the question's scale (the `value`s of its `labels`)
- binary: bool
- multi_label: list of distinct option strings
- text: str
- pairwise: {"turn": t, "a": i, "b": j, "choice": "A" | "B" | "tie" | "both_bad"}
- ranking: {"turn": t, "ranking": [[best indices], [next tier], ...]} (a tier of several = tie)
- rule_verdict: {rule_key: {"verdict": "violates" | "does_not_violate" | "unsure",
                            "rationale": str}}

`turn` is the index of a gpt turn in `Item.conversations` whose value is a list of candidates,
or the string "questions" for the candidate question sets of question-preference records.

A rating, binary, multi_label or text question with `per_turn: true` is asked under each
answer turn of a multi-turn item (each answer judged on its own): its answer is
{"<turn index>": value, ...} with one value of the question's type per answer turn (the
indices of the non-human messages whose value is a plain answer, see `answer_turns`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from annotation.models import Constitution, Project
from core.errors import DomainError
from corpora.models import Item
from rewardmodel.records import QUESTIONS_TURN, candidate_turns

QUESTION_TYPES = ("rating", "binary", "multi_label", "text", "pairwise", "ranking", "rule_verdict")
PER_TURN_TYPES = ("rating", "binary", "multi_label", "text")
PAIRWISE_CHOICES = ("A", "B", "tie", "both_bad")
VERDICTS = ("violates", "does_not_violate", "unsure")
MAX_TEXT = 20_000


class RubricInvalid(DomainError):
    """A rubric definition is wrong; `errors` maps a question key (or position) to messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        first = next(iter(errors.items()))
        super().__init__(
            "invalid_rubric", f"{first[0]}: {first[1][0]}", details={"questions": errors}
        )
        self.errors = errors


class AnswersInvalid(DomainError):
    """Submitted answers do not fit the rubric; `errors` maps question keys to messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        first = next(iter(errors.items()))
        super().__init__(
            "invalid_answers", f"{first[0]}: {first[1][0]}", details={"answers": errors}
        )
        self.errors = errors


def rubric_questions_clean(questions: Any) -> list[dict]:
    """Validate and normalise a rubric's question list (order kept)."""
    if not isinstance(questions, list) or not questions:
        raise RubricInvalid({"questions": ["Give a non-empty list of questions."]})
    errors: dict[str, list[str]] = {}
    clean: list[dict] = []
    seen: set[str] = set()
    for position, raw in enumerate(questions):
        where = f"questions[{position}]"
        if not isinstance(raw, dict):
            errors[where] = ["Each question is an object."]
            continue
        problems: list[str] = []
        key = raw.get("key")
        if not isinstance(key, str) or not key.replace("_", "").replace("-", "").isalnum():
            problems.append("`key` is required: letters, digits, '_' or '-'.")
        elif key in seen:
            problems.append(f"Duplicate key {key!r}.")
        qtype = raw.get("type")
        if qtype not in QUESTION_TYPES:
            problems.append(f"`type` must be one of {', '.join(QUESTION_TYPES)}.")
        question = {
            "key": key,
            "type": qtype,
            "prompt": str(raw.get("prompt") or key or ""),
            "help": str(raw.get("help") or ""),
            "required": bool(raw.get("required", True)),
            "objective": bool(raw.get("objective", False)),
            "criterion": raw.get("criterion") or None,
        }
        if raw.get("per_turn"):
            if qtype not in PER_TURN_TYPES:
                problems.append(
                    f"`per_turn` applies to {', '.join(PER_TURN_TYPES)} questions only"
                    " (comparisons name their turn in the answer)."
                )
            else:
                question["per_turn"] = True
        if qtype == "rating":
            labels = raw.get("labels")
            if not isinstance(labels, list) or len(labels) < 2:
                problems.append("A rating needs `labels`: a list of {value, label}, 2 or more.")
            else:
                values = [lab.get("value") if isinstance(lab, dict) else None for lab in labels]
                if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
                    problems.append("Every rating label needs an integer `value`.")
                elif len(set(values)) != len(values):
                    problems.append("Rating label values must be distinct.")
                else:
                    question["labels"] = [
                        {"value": lab["value"], "label": str(lab.get("label", lab["value"]))}
                        for lab in sorted(labels, key=lambda lab: lab["value"])
                    ]
        if qtype == "multi_label":
            options = raw.get("options")
            if (
                not isinstance(options, list)
                or not options
                or not all(isinstance(o, str) and o for o in options)
                or len(set(options)) != len(options)
            ):
                problems.append("A multi_label question needs `options`: distinct strings.")
            else:
                question["options"] = list(options)
        if problems:
            errors[key if isinstance(key, str) and key not in seen else where] = problems
        else:
            seen.add(key)
            clean.append(question)
    if errors:
        raise RubricInvalid(errors)
    return clean


def item_candidates(item: Item, turn: Any) -> Sequence[Any] | None:
    """The candidates a pairwise/ranking answer may refer to at `turn`, or None."""
    if turn == QUESTIONS_TURN:
        return item.questions if isinstance(item.questions, list) else None
    if isinstance(turn, bool) or not isinstance(turn, int):
        return None
    turns = item.conversations or []
    if not 0 <= turn < len(turns):
        return None
    value = turns[turn].get("value") if isinstance(turns[turn], dict) else None
    return value if isinstance(value, list) else None


def answer_turns(conversations: Any) -> list[int]:
    """Indices of the answer turns a per-turn question is asked under (plain answers only)."""
    turns = conversations if isinstance(conversations, list) else []
    return [
        t
        for t, message in enumerate(turns)
        if isinstance(message, dict)
        and message.get("from") != "human"
        and not isinstance(message.get("value"), list)
    ]


def _check_per_turn(
    question: dict, value: Any, item: Item, rule_keys: Sequence[str], *, partial: bool
) -> list[str]:
    turns = answer_turns(item.conversations)
    if not isinstance(value, dict):
        return ['Give {"<answer turn index>": value} for each answer turn.']
    unknown = sorted(k for k in value if not (k.isdigit() and int(k) in turns))
    if unknown:
        return [f"Not answer turns of this item: {', '.join(unknown)} (answer turns: {turns})."]
    problems: list[str] = []
    for turn in turns:
        answer = value.get(str(turn))
        if answer is None or (question["type"] == "text" and answer == ""):
            if question["required"] and not partial and question["type"] != "multi_label":
                problems.append(f"Turn {turn}: this question is required.")
            continue
        problems += [f"Turn {turn}: {p}" for p in _check_value(question, answer, item, rule_keys)]
    return problems


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_value(question: dict, value: Any, item: Item, rule_keys: Sequence[str]) -> list[str]:
    qtype = question["type"]
    if qtype == "rating":
        allowed = [lab["value"] for lab in question["labels"]]
        if not _is_int(value) or value not in allowed:
            return [f"Give one of {allowed}."]
    elif qtype == "binary":
        if not isinstance(value, bool):
            return ["Give true or false."]
    elif qtype == "multi_label":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return ["Give a list of option strings."]
        unknown = sorted(set(value) - set(question["options"]))
        if unknown:
            return [f"Unknown options: {', '.join(unknown)}."]
        if len(set(value)) != len(value):
            return ["Options must not repeat."]
    elif qtype == "text":
        if not isinstance(value, str):
            return ["Give a string."]
        if len(value) > MAX_TEXT:
            return [f"At most {MAX_TEXT} characters."]
    elif qtype == "pairwise":
        if not isinstance(value, dict):
            return ['Give {"turn", "a", "b", "choice"}.']
        candidates = item_candidates(item, value.get("turn"))
        if candidates is None:
            return [f"Turn {value.get('turn')!r} of this item has no candidates."]
        a, b = value.get("a"), value.get("b")
        if not (
            _is_int(a) and _is_int(b) and 0 <= a < len(candidates) and 0 <= b < len(candidates)
        ):
            return [f"`a` and `b` must be candidate indices 0..{len(candidates) - 1}."]
        if a == b:
            return ["`a` and `b` must be different candidates."]
        if value.get("choice") not in PAIRWISE_CHOICES:
            return [f"`choice` must be one of {', '.join(PAIRWISE_CHOICES)}."]
    elif qtype == "ranking":
        if not isinstance(value, dict):
            return ['Give {"turn", "ranking": [[indices], ...]}.']
        candidates = item_candidates(item, value.get("turn"))
        if candidates is None:
            return [f"Turn {value.get('turn')!r} of this item has no candidates."]
        tiers = value.get("ranking")
        if (
            not isinstance(tiers, list)
            or not tiers
            or not all(isinstance(t, list) and t and all(_is_int(i) for i in t) for t in tiers)
        ):
            return ["`ranking` is a non-empty list of non-empty lists of candidate indices."]
        flat = [i for tier in tiers for i in tier]
        if sorted(flat) != list(range(len(candidates))):
            return [f"`ranking` must place every candidate 0..{len(candidates) - 1} exactly once."]
    elif qtype == "rule_verdict":
        if not isinstance(value, dict):
            return ['Give {rule_key: {"verdict", "rationale"}}.']
        problems = []
        unknown = sorted(set(value) - set(rule_keys))
        if unknown:
            problems.append(f"Unknown rules: {', '.join(unknown)}.")
        missing = [k for k in rule_keys if k not in value]
        if missing and question["required"]:
            problems.append(f"Give a verdict for every rule; missing: {', '.join(missing)}.")
        for rule_key, verdict in value.items():
            if not isinstance(verdict, dict) or verdict.get("verdict") not in VERDICTS:
                problems.append(f"{rule_key}: `verdict` must be one of {', '.join(VERDICTS)}.")
            elif not isinstance(verdict.get("rationale", ""), str):
                problems.append(f"{rule_key}: `rationale` must be a string.")
        return problems
    return []


def answers_clean(
    *,
    questions: Sequence[dict],
    answers: Any,
    item: Item,
    rule_keys: Sequence[str] = (),
    partial: bool = False,
) -> dict[str, Any]:
    """Check answers against the rubric; raises AnswersInvalid keyed by question key.

    `partial` (drafts) accepts missing required answers but still checks what is given.
    Empty values (None, "", []) of optional questions are dropped.
    """
    if not isinstance(answers, dict):
        raise AnswersInvalid({"answers": ["Give an object {question_key: value}."]})
    by_key = {q["key"]: q for q in questions}
    errors: dict[str, list[str]] = {}
    for key in answers:
        if key not in by_key:
            errors[key] = ["Not a question of this project's rubric."]
    clean: dict[str, Any] = {}
    for question in questions:
        key = question["key"]
        value = answers.get(key)
        if value is None or (question["type"] == "text" and value == ""):
            if question["required"] and not partial and not _exempt(question, item, rule_keys):
                errors[key] = ["This question is required."]
            continue
        if question.get("per_turn"):
            problems = _check_per_turn(question, value, item, rule_keys, partial=partial)
            if not problems:
                value = {k: v for k, v in value.items() if v is not None and v != ""}
        else:
            problems = _check_value(question, value, item, rule_keys)
        if problems:
            errors[key] = problems
        else:
            clean[key] = value
    if errors:
        raise AnswersInvalid(errors)
    return clean


def _exempt(question: dict, item: Item, rule_keys: Sequence[str]) -> bool:
    """A required comparison is moot on an item with nothing to compare (and rules on none)."""
    if question["type"] in ("pairwise", "ranking"):
        return not candidate_turns(item.conversations, item.questions)
    if question["type"] == "rule_verdict":
        return not rule_keys
    if question.get("per_turn"):
        return not answer_turns(item.conversations)
    return False


def answers_match(expected: dict[str, Any], given: dict[str, Any]) -> bool:
    """Whether an answer agrees with a gold answer on every question the gold names.

    Text is not compared; label sets and ranking tiers compare as sets; a rule verdict
    compares the verdicts only.
    """
    for key, want in expected.items():
        got = given.get(key)
        if isinstance(want, str) and isinstance(got, str):
            continue
        if isinstance(want, list) and isinstance(got, list):
            if set(map(str, want)) != set(map(str, got)):
                return False
        elif isinstance(want, dict) and "ranking" in want:
            if not isinstance(got, dict) or [sorted(t) for t in want["ranking"]] != [
                sorted(t) for t in got.get("ranking", [])
            ]:
                return False
        elif isinstance(want, dict) and "choice" in want:
            if not isinstance(got, dict) or _pair_direction(want) != _pair_direction(got):
                return False
        elif (
            isinstance(want, dict)
            and want
            and all(k.isdigit() and not isinstance(v, dict) for k, v in want.items())
        ):
            # a per-turn answer: each turn compared like a whole answer of the question's type
            if not isinstance(got, dict) or not answers_match(want, got):
                return False
        elif isinstance(want, dict) and all(isinstance(v, dict) for v in want.values()):
            if not isinstance(got, dict):
                return False
            for rule_key, verdict in want.items():
                if (got.get(rule_key) or {}).get("verdict") != verdict.get("verdict"):
                    return False
        elif want != got:
            return False
    return True


def _pair_direction(value: dict) -> tuple:
    """A pairwise answer as (better, worse) or (tie-kind, pair), independent of a/b order."""
    a, b, choice = value.get("a"), value.get("b"), value.get("choice")
    if choice == "A":
        return ("win", a, b)
    if choice == "B":
        return ("win", b, a)
    return (choice, *sorted((a, b)))


def rule_keys_for(project: Project) -> list[str]:
    """Rule keys of the project's current constitution; no query when no question needs them."""
    questions = project.rubric.questions
    if not any(q["type"] == "rule_verdict" for q in questions):
        return []
    constitution = Constitution.objects.filter(project=project).order_by("-version").first()
    if constitution is None:
        return []
    return list(constitution.rules.order_by("position").values_list("key", flat=True))
