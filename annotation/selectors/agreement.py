"""Agreement report of a project: one query for the answers, then numpy (no per-item queries).

See `agreement_math` for the measures. The report (`project_agreement`) holds, per question:
Krippendorff's alpha at the level fitting its type, Fleiss' kappa over items rated by the
usual number of annotators, and Cohen's kappa between every two annotators; per annotator:
agreement with the item majority and accuracy on gold; and the items with most disagreement.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import repeat
from typing import Any

import numpy as np
from django.contrib.auth import get_user_model
from django.db.models import TextField
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import Cast

from annotation.models import Annotation, Project, ProjectItem, ProjectMembership
from annotation.selectors.agreement_math import (
    PAIR_CODES,
    Component,
    alpha_from_counts,
    cohen_pairs,
    component_alpha,
    fleiss,
    majority,
    masi_delta,
    nominal_delta,
    rank_delta,
    unit_disagreement,
    value_counts,
)
from annotation.selectors.position_bias import project_position_bias
from annotation.services.rubric import rule_keys_for
from corpora.models import Item

TOP_DISAGREEMENT = 20


def annotations_load(*, project: Project) -> tuple[np.ndarray, np.ndarray, dict[str, list]]:
    """(item ids, user ids, {question key: answers}) of the project's human annotations.

    One query; each question's answer comes as its own text column (`answers -> key`), so
    ratings and labels are coded without decoding whole JSON documents row by row.
    """
    keys = [q["key"] for q in project.rubric.questions if q["type"] != "text"]
    columns = {
        f"q{i}": Cast(KeyTransform(key, "answers"), TextField()) for i, key in enumerate(keys)
    }
    rows = list(
        Annotation.objects.filter(project=project, source=Annotation.Source.HUMAN)
        .annotate(**columns)
        .values_list("item_id", "user_id", *columns)
        .order_by()
    )
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), {key: [] for key in keys}
    cols = list(zip(*rows, strict=True))
    return (
        np.asarray(cols[0], np.int64),
        np.asarray(cols[1], np.int64),
        {key: list(cols[2 + i]) for i, key in enumerate(keys)},
    )


def answers_columns(questions: Sequence[dict], answers: list[dict]) -> dict[str, list]:
    """Column form of decoded answer dicts (what `annotations_load` returns from SQL)."""
    return {q["key"]: [a.get(q["key"]) for a in answers] for q in questions}


def _decoded(values: list) -> list:
    """JSON text from SQL (objects, lists) to Python; decoded values pass through.

    All texts are parsed by one json.loads over a joined array: one C call, not one per row.
    """
    texts = [i for i, v in enumerate(values) if isinstance(v, str)]
    if not texts:
        return values
    parsed = json.loads("[" + ",".join([values[i] for i in texts]) + "]")
    out = list(values)
    for i, value in zip(texts, parsed, strict=True):
        out[i] = value
    return out


def components_build(
    questions: Sequence[dict],
    item_ids: np.ndarray,
    coders: np.ndarray,
    columns: dict[str, list],
    rule_keys: Sequence[str] = (),
) -> tuple[list[Component], np.ndarray]:
    """Code every question's answers; returns the components and the sorted distinct item ids.

    `columns[key]` holds one answer per row: a decoded value, or its text from SQL (ratings
    as "4", booleans as "true"/"false" on PostgreSQL or "1"/"0" on SQLite, objects as JSON).
    """
    all_items, all_item_unit = np.unique(item_ids, return_inverse=True)
    all_coders = coders
    out: list[Component] = []
    for question in questions:
        key, qtype = question["key"], question["type"]
        values = columns.get(key)
        if values is None or qtype == "text":
            continue
        items, item_unit, coders = all_items, all_item_unit, all_coders
        if question.get("per_turn"):
            # each answer turn is its own unit: (item, turn) pairs, one row per turn answered
            values, items, item_unit, coders = _per_turn_rows(_decoded(values), item_ids, coders)
        if qtype in ("rating", "binary"):
            labels = (
                [lab["value"] for lab in question["labels"]] if qtype == "rating" else [False, True]
            )
            mapping: dict[Any, int] = {v: i for i, v in enumerate(labels)}
            mapping.update({str(v): i for i, v in enumerate(labels)})
            if qtype == "binary":
                mapping.update({"true": 1, "false": 0, "1": 1, "0": 0})
            # map() with a default runs dict.get in C: several times faster than a generator.
            codes = np.fromiter(map(mapping.get, values, repeat(-1)), np.int64, len(values))
            level = "ordinal" if qtype == "rating" else "nominal"
            out.append(_item_component(key, qtype, level, labels, codes, item_unit, coders, items))
        elif qtype == "multi_label":
            values = _decoded(values)
            sets = [frozenset(v) if isinstance(v, list) else None for v in values]
            labels = sorted({s for s in sets if s is not None}, key=lambda s: sorted(s))
            mapping = {s: i for i, s in enumerate(labels)}
            codes = np.fromiter((mapping.get(s, -1) for s in sets), np.int64, len(sets))
            comp = _item_component(key, qtype, "masi", labels, codes, item_unit, coders, items)
            comp.delta = masi_delta(labels)
            out.append(comp)
        elif qtype == "rule_verdict":
            values = _decoded(values)
            for rule in rule_keys or sorted({r for v in values if isinstance(v, dict) for r in v}):
                verdicts = ["violates", "does_not_violate"]
                mapping = {v: i for i, v in enumerate(verdicts)}
                # "unsure" carries no judgement: it is left out like a missing answer.
                codes = np.fromiter(
                    (
                        mapping.get((v.get(rule) or {}).get("verdict"), -1)
                        if isinstance(v, dict)
                        else -1
                        for v in values
                    ),
                    np.int64,
                    len(values),
                )
                out.append(
                    _item_component(
                        f"{key}.{rule}", qtype, "nominal", verdicts, codes, item_unit, coders, items
                    )
                )
        elif qtype in ("pairwise", "ranking"):
            comp = _comparison_component(key, qtype, values, item_ids, coders)
            if comp is not None:
                out.append(comp)
    return out, all_items


def _per_turn_rows(
    values: list, item_ids: np.ndarray, coders: np.ndarray
) -> tuple[list, np.ndarray, np.ndarray, np.ndarray]:
    """Per-turn answers ({turn: value}) as one row per turn: (values, unit -> item id,
    row -> unit, row -> coder)."""
    rows: list[tuple[int, int, int, Any]] = []
    for value, item_id, coder in zip(values, item_ids.tolist(), coders.tolist(), strict=True):
        if isinstance(value, dict):
            for turn, answer in value.items():
                if answer is not None and str(turn).isdigit():
                    rows.append((item_id, int(turn), coder, answer))
    if not rows:
        return [], np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    keys = sorted({(item_id, turn) for item_id, turn, _, _ in rows})
    unit_of = {k: u for u, k in enumerate(keys)}
    unit_item = np.asarray([item_id for item_id, _ in keys], np.int64)
    row_unit = np.asarray([unit_of[(i, t)] for i, t, _, _ in rows], np.int64)
    row_coder = np.asarray([c for _, _, c, _ in rows], np.int64)
    return [a for _, _, _, a in rows], unit_item, row_unit, row_coder


def _item_component(key, qtype, level, labels, codes, item_unit, coders, items) -> Component:
    keep = codes >= 0
    comp = Component(
        key=key,
        question_type=qtype,
        level=level,
        labels=list(labels),
        unit=item_unit[keep],
        coder=coders[keep],
        code=codes[keep],
        unit_item=items,
    )
    if level == "nominal":
        comp.delta = nominal_delta(len(labels))
    elif level == "ordinal":
        comp.delta = _ordinal_delta_placeholder(len(labels))
    return comp


def _ordinal_delta_placeholder(n: int) -> np.ndarray:
    # Only the per-unit disagreement ranking uses this rank-gap distance; alpha itself uses the
    # package's ordinal metric, which depends on the observed marginals.
    idx = np.arange(n, dtype=np.float64)
    return (idx[:, None] - idx[None, :]) ** 2


def _comparison_component(key, qtype, values, item_ids, coders) -> Component | None:
    """Pairwise units are (item, turn, pair), ranking units (item, turn).

    Answers repeat a lot (few distinct rankings per turn), so each distinct answer text is
    parsed once and rows are coded with C-level dict look-ups and numpy.
    """
    rows = [i for i, v in enumerate(values) if v is not None]
    if not rows:
        return None
    texts = [
        v if isinstance(v, str) else json.dumps(v, sort_keys=True)
        for v in (values[i] for i in rows)
    ]
    turn_ids: dict[tuple, int] = {}
    code_ids: dict[Any, int] = {}
    text_turn: dict[str, int] = {}
    text_code: dict[str, int] = {}
    for text in dict.fromkeys(texts):
        value = json.loads(text)
        turn = str(value.get("turn"))
        if qtype == "pairwise":
            a, b = value["a"], value["b"]
            turn_key = (turn, min(a, b), max(a, b))
            if value["choice"] in ("tie", "both_bad"):
                code = PAIR_CODES["tie"]
            else:
                winner = a if value["choice"] == "A" else b
                code = PAIR_CODES["lower"] if winner == min(a, b) else PAIR_CODES["higher"]
        else:
            turn_key = (turn,)
            ranking = tuple(tuple(sorted(tier)) for tier in value["ranking"])
            code = code_ids.setdefault(ranking, len(code_ids))
        text_turn[text] = turn_ids.setdefault(turn_key, len(turn_ids))
        text_code[text] = code
    n = len(texts)
    turn_of = np.fromiter(map(text_turn.__getitem__, texts), np.int64, n)
    codes = np.fromiter(map(text_code.__getitem__, texts), np.int64, n)
    row_idx = np.asarray(rows)
    combined = item_ids[row_idx].astype(np.int64) * len(turn_ids) + turn_of
    distinct_units, unit = np.unique(combined, return_inverse=True)
    comp = Component(
        key=key,
        question_type=qtype,
        level="ordinal" if qtype == "pairwise" else "rank",
        labels=["lower", "tie", "higher"] if qtype == "pairwise" else list(code_ids),
        unit=unit.astype(np.int64),
        coder=coders[row_idx],
        code=codes,
        unit_item=distinct_units // len(turn_ids),
    )
    comp.delta = (
        _ordinal_delta_placeholder(3) if qtype == "pairwise" else rank_delta(list(code_ids))
    )
    return comp


def alpha_undefined_reason(counts: np.ndarray) -> str:
    """Why alpha has no value for a units x values count matrix, in words for the dashboard."""
    pairable = counts[counts.sum(axis=1) >= 2]
    if pairable.shape[0] == 0:
        return "No item has answers from two annotators yet."
    if (pairable.sum(axis=0) > 0).sum() < 2:
        return (
            "Every answer so far is the same, so agreement beyond chance cannot be measured "
            f"({pairable.shape[0]} item{'s' if pairable.shape[0] != 1 else ''} with two or "
            "more answers)."
        )
    return "The answers give no expected disagreement to compare with."


def agreement_compute(
    components: list[Component],
    coder_names: Sequence[str],
    *,
    settled_items: Sequence[int] = (),
) -> dict[str, Any]:
    """The numbers of the report, from coded components (pure numpy; no database).

    `settled_items` (adjudicated items) stay in every measure but not in the disputed list:
    a reviewer has already decided them."""
    n_coders = len(coder_names)
    questions: list[dict[str, Any]] = []
    agree = np.zeros(n_coders)
    agree_units = np.zeros(n_coders)
    answered = np.zeros(n_coders)
    top_item = max((int(c.unit_item.max()) for c in components if len(c.unit_item)), default=0)
    item_sum = np.zeros(top_item + 1)
    item_n = np.zeros(top_item + 1)
    for comp in components:
        n_units = len(comp.unit_item)
        counts = value_counts(comp.unit, comp.code, n_units, max(comp.n_values, 1))
        m = counts.sum(axis=1)
        entry: dict[str, Any] = {
            "key": comp.key,
            "type": comp.question_type,
            "level": comp.level,
            "units": int((m > 0).sum()),
            "pairable_units": int((m >= 2).sum()),
            "alpha": component_alpha(comp, counts),
        }
        if entry["alpha"] is None:
            entry["alpha_undefined"] = alpha_undefined_reason(counts)
        if comp.question_type == "rating":
            entry["alpha_interval"] = component_alpha(
                Component(**{**comp.__dict__, "level": "interval"}), counts
            )
        if comp.level in ("nominal", "ordinal"):
            kappa, raters, rated = fleiss(counts)
            entry["fleiss_kappa"] = kappa
            entry["fleiss_raters"] = raters
            entry["fleiss_units"] = rated
        entry["cohen"] = cohen_pairs(comp, n_units, coder_names)
        questions.append(entry)
        top, unique = majority(counts)
        has_majority = unique[comp.unit]
        matches = (comp.code == top[comp.unit]) & has_majority
        agree += np.bincount(comp.coder, weights=matches, minlength=n_coders)
        agree_units += np.bincount(comp.coder, weights=has_majority, minlength=n_coders)
        answered += np.bincount(comp.coder, minlength=n_coders)
        dis = unit_disagreement(counts, comp.delta)
        ok = ~np.isnan(dis)
        item_sum += np.bincount(comp.unit_item[ok], weights=dis[ok], minlength=top_item + 1)
        item_n += np.bincount(comp.unit_item[ok], minlength=top_item + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(agree_units > 0, agree / np.where(agree_units > 0, agree_units, 1), np.nan)
    annotators = [
        {
            "annotator": coder_names[c],
            "answers": int(answered[c]),
            "majority_agreement": None if np.isnan(rate[c]) else float(rate[c]),
            "majority_units": int(agree_units[c]),
        }
        for c in range(n_coders)
    ]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_dis = np.where(item_n > 0, item_sum / np.where(item_n > 0, item_n, 1), 0.0)
    settled = [i for i in settled_items if 0 <= i < len(mean_dis)]
    mean_dis[settled] = 0.0
    # Stable sort on the negated score: ties keep the lower item id first.
    order = np.argsort(-mean_dis, kind="stable")[:TOP_DISAGREEMENT]
    worst = [(float(mean_dis[i]), int(i)) for i in order]
    return {
        "questions": questions,
        "annotators": annotators,
        "most_disagreement": [
            {"item_id": i, "disagreement": round(d, 4)} for d, i in worst if d > 0
        ],
    }


def project_agreement(*, project: Project) -> dict[str, Any]:
    """The agreement report of a project (see module docstring)."""
    item_ids, users, columns = annotations_load(project=project)
    user_ids, coders = np.unique(users, return_inverse=True)
    names = dict(
        get_user_model().objects.filter(pk__in=user_ids.tolist()).values_list("pk", "username")
    )
    components, _ = components_build(
        project.rubric.questions, item_ids, coders, columns, rule_keys_for(project)
    )
    settled = ProjectItem.objects.filter(project=project, adjudicated=True).values_list(
        "item_id", flat=True
    )
    report = agreement_compute(
        components, [names.get(int(u), str(u)) for u in user_ids], settled_items=list(settled)
    )
    gold = {
        row["user_id"]: row
        for row in ProjectMembership.objects.filter(project=project).values(
            "user_id", "gold_answered", "gold_correct"
        )
    }
    for entry, user_id in zip(report["annotators"], user_ids.tolist(), strict=True):
        stats = gold.get(user_id, {})
        entry["user_id"] = user_id
        entry["gold_answered"] = stats.get("gold_answered", 0)
        entry["gold_accuracy"] = (
            stats["gold_correct"] / stats["gold_answered"] if stats.get("gold_answered") else None
        )
    _disputed_describe(project, report["most_disagreement"], names)
    report["annotations"] = len(item_ids)
    report["items"] = int(len(np.unique(item_ids))) if len(item_ids) else 0
    report["overlap"] = project.overlap
    report["position_bias"] = project_position_bias(project=project)
    return report


def _disputed_describe(project: Project, disputed: list[dict], names: dict) -> None:
    """Each disputed item's external id, category and every annotator's answers (two queries)."""
    ids = [d["item_id"] for d in disputed]
    items = {
        pk: (external, category)
        for pk, external, category in Item.objects.filter(pk__in=ids).values_list(
            "pk", "external_id", "category"
        )
    }
    answers: dict[int, list[dict]] = {i: [] for i in ids}
    for item_id, user_id, values in (
        Annotation.objects.filter(project=project, item_id__in=ids, source=Annotation.Source.HUMAN)
        .order_by("item_id", "user_id")
        .values_list("item_id", "user_id", "answers")
    ):
        answers[item_id].append({"annotator": names.get(user_id, str(user_id)), "answers": values})
    for entry in disputed:
        external, category = items.get(entry["item_id"], ("", ""))
        entry["external_id"] = external
        entry["category"] = category
        entry["answers"] = answers.get(entry["item_id"], [])


__all__ = ["agreement_compute", "components_build", "project_agreement", "alpha_from_counts"]
