"""A project's annotations as reward-model training data.

`training_data(project=...)` returns a `rewardmodel.data.TrainingData` with

- `pairs`: `JudgedPair`s, as formats.md describes them::

    JudgedPair(item_id=17, criterion="overall",
               chosen=SideRef(17, turn=1, candidate=2), rejected=SideRef(17, turn=1, candidate=0),
               margin=0.5, source="ranking")

  `chosen` / `rejected` are `SideRef`s: a candidate answer (`turn` indexes
  `Item.conversations`; `turn` is the string "questions" for the candidate question sets of
  question-preference records), or a whole item (no turn). `item_id` of the pair is the
  chosen side's item. `margin` is in [0, 1] and grows with the strength of the preference:
    * "pairwise": one pair per compared couple, the consensus winner over the loser;
      margin = (votes for winner - votes for loser) / votes (1.0 when unanimous);
      "tie" and "both_bad" give no pair.
    * "ranking": every ordered pair of candidates in different tiers of the consensus ranking
      (chosen = the better tier); margin = tier gap / (tiers - 1); same tier (tie) gives none.
    * "rating": whole items compared on a rating question's criterion; each item is paired
      with up to `rating_pairs_per_item` others whose consensus rating differs by at least
      `min_rating_gap`; margin = gap / scale span.
    * "import": imported candidate scores (external annotator); every two candidates with
      different scores, the higher chosen; margin = score difference; equal scores give none.
- `targets`: per item and criterion a `Target`, value in [0, 1] (rating mean rescaled to the
  scale, binary share of "yes"). A per-turn question gives one `Target` per answer turn
  (`turn` set); its item's rating for rating pairs is the worst turn's (a defect in one
  answer makes the item worse).
- `safety`: per item and rule a `SafetyLabel` (verdict, violates, votes, source).
- `counts`: how many pairs each source gave.

Consensus: an adjudicated answer (review) wins where it exists, else the majority (labels,
verdicts, pairwise), the mean (ratings) or the mean tier position (rankings).
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import replace
from itertools import combinations
from typing import Any

from annotation.models import Adjudication, Annotation, Project
from annotation.services.imported_scores import IMPORTED_KEY
from rewardmodel.data import JudgedPair, SafetyLabel, SideRef, Target, TrainingData

DEFAULT_CRITERION = "overall"


def _ref(item_id: int, turn: Any = None, candidate: int | None = None) -> SideRef:
    return SideRef(item_id, turn, candidate)


def _pair(
    item_id: int, criterion: str, chosen: SideRef, rejected: SideRef, margin: float, source: str
) -> JudgedPair:
    return JudgedPair(item_id, criterion, chosen, rejected, round(float(margin), 6), source)


def training_data(
    *,
    project: Project,
    rating_pairs_per_item: int = 2,
    min_rating_gap: float = 1.0,
    seed: int = 0,
) -> TrainingData:
    questions = project.rubric.questions
    by_item: dict[int, list[dict]] = defaultdict(list)
    imported: dict[int, dict] = {}
    rows = Annotation.objects.filter(project=project).values_list("item_id", "source", "answers")
    for item_id, source, answers in rows.order_by("item_id", "id").iterator(chunk_size=5000):
        if source == Annotation.Source.EXTERNAL:
            imported[item_id] = answers
        else:
            by_item[item_id].append(answers)
    adjudicated = dict(
        Adjudication.objects.filter(project_item__project=project).values_list(
            "project_item__item_id", "answers"
        )
    )
    out = TrainingData()
    ratings: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for item_id in sorted(set(by_item) | set(adjudicated)):
        answers = by_item.get(item_id, [])
        final = adjudicated.get(item_id, {})
        for question in questions:
            _question_data(out, ratings, item_id, question, answers, final)
    for item_id in sorted(imported):
        for pair in _import_pairs(item_id, imported[item_id]):
            out.pairs.append(pair)
    rng = random.Random(seed)
    spans = {q.get("criterion") or q["key"]: _span(q) for q in questions if q["type"] == "rating"}
    for criterion in sorted(ratings):
        for pair in _rating_pairs(
            ratings[criterion],
            criterion,
            spans.get(criterion, 1.0),
            rating_pairs_per_item,
            min_rating_gap,
            rng,
        ):
            out.pairs.append(pair)
    return out


def _span(question: dict) -> float:
    values = [lab["value"] for lab in question["labels"]]
    return float(max(values) - min(values)) or 1.0


def _per_turn_data(out, ratings, item_id, question, answers, final) -> None:
    """A per-turn question: each answer turn judged as if it were its own question."""
    key = question["key"]
    turns = sorted(
        {
            int(t)
            for a in [*answers, final]
            if isinstance(a.get(key), dict)
            for t in a[key]
            if str(t).isdigit()
        }
    )
    local: dict[str, list[tuple[int, float]]] = defaultdict(list)
    flat = {**question, "per_turn": False}
    for turn in turns:
        turn_answers = [
            {key: a[key].get(str(turn))} for a in answers if isinstance(a.get(key), dict)
        ]
        adjudicated = final.get(key)
        turn_final = {key: adjudicated.get(str(turn))} if isinstance(adjudicated, dict) else {}
        if turn_final.get(key) is None:
            turn_final = {}
        mark = len(out.targets)
        _question_data(out, local, item_id, flat, turn_answers, turn_final)
        for i in range(mark, len(out.targets)):
            out.targets[i] = replace(out.targets[i], turn=turn)
    for criterion, rated in local.items():
        ratings[criterion].append((item_id, min(mean for _, mean in rated)))


def _question_data(out, ratings, item_id, question, answers, final) -> None:
    key, qtype = question["key"], question["type"]
    if question.get("per_turn"):
        _per_turn_data(out, ratings, item_id, question, answers, final)
        return
    criterion = question.get("criterion") or (
        DEFAULT_CRITERION if qtype in ("pairwise", "ranking") else key
    )
    values = [a[key] for a in answers if a.get(key) is not None]
    adjudicated = final.get(key)
    source = "adjudicated" if adjudicated is not None else None
    if qtype == "rating":
        if adjudicated is not None:
            mean = float(adjudicated)
        elif values:
            mean, source = sum(values) / len(values), "mean"
        else:
            return
        low = min(lab["value"] for lab in question["labels"])
        value = round((mean - low) / _span(question), 6)
        out.targets.append(Target(item_id, criterion, value, key, len(values), source))
        ratings[criterion].append((item_id, mean))
    elif qtype == "binary":
        if adjudicated is not None:
            share = 1.0 if adjudicated else 0.0
        elif values:
            share, source = sum(bool(v) for v in values) / len(values), "majority"
        else:
            return
        out.targets.append(Target(item_id, criterion, round(share, 6), key, len(values), source))
    elif qtype == "rule_verdict":
        rules = set(adjudicated or {}) | {r for v in values for r in v}
        for rule in sorted(rules):
            votes = Counter(v[rule]["verdict"] for v in values if rule in v)
            if adjudicated is not None and rule in adjudicated:
                verdict, rsource = adjudicated[rule]["verdict"], "adjudicated"
            else:
                verdict, rsource = _majority(votes), "majority"
            violates = {"violates": True, "does_not_violate": False}.get(verdict)
            out.safety.append(SafetyLabel(item_id, rule, violates, verdict, dict(votes), rsource))
    elif qtype == "pairwise":
        for pair in _pairwise_pairs(item_id, criterion, values, adjudicated):
            out.pairs.append(pair)
    elif qtype == "ranking":
        for pair in _ranking_pairs(item_id, criterion, values, adjudicated):
            out.pairs.append(pair)


def _majority(votes: Counter) -> str | None:
    """The strict majority verdict; "unsure" when the vote is split or empty."""
    decided = [(n, v) for v, n in votes.items() if v != "unsure"]
    if not decided:
        return "unsure" if votes else None
    decided.sort(reverse=True)
    if len(decided) > 1 and decided[0][0] == decided[1][0]:
        return "unsure"
    return decided[0][1]


def _pairwise_pairs(item_id, criterion, values, adjudicated) -> Iterator[JudgedPair]:
    votes: dict[tuple, Counter] = defaultdict(Counter)
    for value in [adjudicated] if adjudicated is not None else values:
        a, b, turn = value["a"], value["b"], value["turn"]
        low, high = min(a, b), max(a, b)
        winner = {"A": a, "B": b}.get(value["choice"])
        votes[(turn, low, high)][winner] += 1  # None counts as tie/both_bad
    for (turn, low, high), counter in sorted(votes.items(), key=lambda kv: str(kv[0])):
        total = sum(counter.values())
        lead = counter[low] - counter[high]
        if lead == 0:
            continue
        chosen, rejected = (low, high) if lead > 0 else (high, low)
        yield _pair(
            item_id,
            criterion,
            _ref(item_id, turn, chosen),
            _ref(item_id, turn, rejected),
            abs(lead) / total,
            "pairwise",
        )


def _consensus_tiers(rankings: list[list[list[int]]]) -> list[list[int]]:
    """Candidates grouped by mean tier position (equal means stay tied)."""
    positions: dict[int, list[float]] = defaultdict(list)
    for tiers in rankings:
        for position, tier in enumerate(tiers):
            for candidate in tier:
                positions[candidate].append(position)
    means: dict[float, list[int]] = defaultdict(list)
    for candidate, pos in positions.items():
        means[round(sum(pos) / len(pos), 9)].append(candidate)
    return [sorted(means[m]) for m in sorted(means)]


def _ranking_pairs(item_id, criterion, values, adjudicated) -> Iterator[JudgedPair]:
    by_turn: dict[Any, list] = defaultdict(list)
    for value in [adjudicated] if adjudicated is not None else values:
        by_turn[value["turn"]].append(value["ranking"])
    for turn in sorted(by_turn, key=str):
        tiers = _consensus_tiers(by_turn[turn])
        if len(tiers) < 2:
            continue
        for (i, better), (j, worse) in combinations(enumerate(tiers), 2):
            for chosen in better:
                for rejected in worse:
                    yield _pair(
                        item_id,
                        criterion,
                        _ref(item_id, turn, chosen),
                        _ref(item_id, turn, rejected),
                        (j - i) / (len(tiers) - 1),
                        "ranking",
                    )


def _import_pairs(item_id: int, answers: dict) -> Iterator[JudgedPair]:
    for entry in answers.get(IMPORTED_KEY, []):
        turn, scores = entry["turn"], entry["scores"]
        for i, j in combinations(range(len(scores)), 2):
            if scores[i] == scores[j]:
                continue
            chosen, rejected = (i, j) if scores[i] > scores[j] else (j, i)
            yield _pair(
                item_id,
                DEFAULT_CRITERION,
                _ref(item_id, turn, chosen),
                _ref(item_id, turn, rejected),
                abs(scores[i] - scores[j]),
                "import",
            )


def _rating_pairs(rated, criterion, span, per_item, min_gap, rng) -> Iterator[JudgedPair]:
    """Each item against a few random others with a clearly different consensus rating.

    All pairs would be quadratic in the number of items; a few per item give every item a
    comparison while keeping the data linear in size.
    """
    if per_item <= 0 or len(rated) < 2:
        return
    rated = sorted(rated)
    seen: set[tuple[int, int]] = set()
    for item_id, mean in rated:
        tries = 0
        made = 0
        while made < per_item and tries < per_item * 4:
            tries += 1
            other_id, other_mean = rated[rng.randrange(len(rated))]
            gap = mean - other_mean
            if other_id == item_id or abs(gap) < min_gap:
                continue
            key = (min(item_id, other_id), max(item_id, other_id))
            if key in seen:
                continue
            seen.add(key)
            made += 1
            hi, lo = (item_id, other_id) if gap > 0 else (other_id, item_id)
            yield _pair(hi, criterion, _ref(hi), _ref(lo), min(abs(gap) / span, 1.0), "rating")


def annotator_item_scores(*, project: Project, items: set[int]) -> dict[int, dict[int, float]]:
    """User id -> item id -> that annotator's own score of the item: the mean of their answers
    to the rubric's rating questions (rescaled to [0, 1]) and yes/no questions (1 or 0), a
    per-turn question counting with its worst turn: one annotator's view of what the
    trainer's consensus targets average over everyone. Human, non-gold annotations of
    ``items``; an annotation that answered none of these questions gives no score."""
    questions = [q for q in project.rubric.questions if q["type"] in ("rating", "binary")]
    out: dict[int, dict[int, float]] = defaultdict(dict)
    rows = Annotation.objects.filter(
        project=project, source=Annotation.Source.HUMAN, is_gold=False, item_id__in=items
    ).values_list("user_id", "item_id", "answers")
    for user_id, item_id, answers in rows.iterator(chunk_size=5000):
        values = [v for q in questions if (v := _own_value(q, (answers or {}).get(q["key"])))
                  is not None]  # fmt: skip
        if values:
            out[user_id][item_id] = sum(values) / len(values)
    return dict(out)


def _own_value(question: dict, answer: Any) -> float | None:
    if isinstance(answer, dict) and question.get("per_turn"):
        turns = [_own_value({**question, "per_turn": False}, v) for v in answer.values()]
        known = [v for v in turns if v is not None]
        return min(known) if known else None
    if question["type"] == "binary":
        return float(answer) if isinstance(answer, bool) else None
    if isinstance(answer, int | float) and not isinstance(answer, bool):
        low = min(lab["value"] for lab in question["labels"])
        return (float(answer) - low) / _span(question)
    return None
