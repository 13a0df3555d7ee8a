"""Selection policies: which items to keep, given per-item scores (pure numpy).

A policy is a JSON-able list of steps, each a dict with an ``op``; each step narrows the set
of candidate items left by the previous one. ``policy_validate`` checks a spec and returns
it normalised (defaults filled in), with errors naming the step and field:

    [{"op": "exclude_flags", "flags": ["unsafe"]},
     {"op": "align2llava", "question_score": "question", "answer_score": "answer"},
     {"op": "dedup", "threshold": 0.95}]

Ops: ``exclude_flags``, ``threshold``, ``top_fraction``, ``top_k``, ``quota``,
``align2llava`` (per category top 30% by question score, then top 30% of those by answer
score), ``dedup`` (near-duplicates by cosine similarity, the higher score kept), ``diversity``
(greedy k-center or MMR), ``random``. ``random_baseline`` draws a same-size random set.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class PolicyError(ValueError):
    """A selection policy spec is invalid, or does not fit the inputs it is applied to."""


@dataclass
class SelectionInputs:
    scores: Mapping[str, np.ndarray]  # name -> (N,) higher is better
    categories: np.ndarray | None = None  # (N,) labels
    embeddings: np.ndarray | None = None  # (N, d); normalised here before use
    flags: Mapping[str, np.ndarray] = field(default_factory=dict)  # name -> (N,) bool

    @property
    def n_items(self) -> int:
        for array in self.scores.values():
            return len(array)
        if self.categories is not None:
            return len(self.categories)
        if self.embeddings is not None:
            return len(self.embeddings)
        for array in self.flags.values():
            return len(array)
        raise PolicyError("selection inputs hold no arrays, so the number of items is unknown")


@dataclass
class SelectionResult:
    indices: np.ndarray  # selected item indices, ascending
    log: list[dict[str, Any]]  # per step: op and counts before/after


# --- validation -------------------------------------------------------------------------

_FIELDS: dict[str, dict[str, tuple[type | tuple[type, ...], Any]]] = {
    # field -> (accepted types, default; ... marks a required field)
    "exclude_flags": {"flags": (list, None)},
    "threshold": {"score": (str, ...), "min": ((int, float), None), "max": ((int, float), None)},
    "top_fraction": {"score": (str, ...), "fraction": ((int, float), ...),
                     "per_category": (bool, False)},
    "top_k": {"score": (str, ...), "k": (int, ...), "per_category": (bool, False)},
    "quota": {"score": (str, ...), "quotas": (dict, ...), "default": (int, 0)},
    "align2llava": {"question_score": (str, "question"), "answer_score": (str, "answer"),
                    "fraction": ((int, float), 0.3), "answer_fraction": ((int, float), None)},
    "dedup": {"threshold": ((int, float), 0.95), "score": (str, None), "block": (int, 2048)},
    "diversity": {"k": (int, None), "fraction": ((int, float), None),
                  "method": (str, "kcenter"), "score": (str, None), "lambda": ((int, float), 0.7)},
    "random": {"k": (int, None), "fraction": ((int, float), None), "seed": (int, 0)},
}  # fmt: skip


# Fields that take one of a few words; validation and the schema both read this.
_CHOICES: dict[tuple[str, str], tuple[str, ...]] = {("diversity", "method"): ("kcenter", "mmr")}
# Closed numeric ranges a field must lie in (fractions exclude 0), for validation and the schema.
_FRACTION_FIELDS = ("fraction", "answer_fraction")
_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", list: "array",
               dict: "object"}  # fmt: skip


def _json_type(types: type | tuple[type, ...]) -> str:
    names = {_JSON_TYPES[t] for t in (types if isinstance(types, tuple) else (types,))}
    return "number" if "number" in names else names.pop()


def policy_schema() -> dict[str, Any]:
    """The policy language as data, for forms and documentation: per op, each field's JSON
    type, whether it is required, its default, and its choices or range. Derived from the
    tables ``policy_validate`` checks against, so the two cannot drift apart."""
    ops: dict[str, Any] = {}
    for op, fields in _FIELDS.items():
        described = {}
        for name, (types, default) in fields.items():
            field_schema: dict[str, Any] = {"type": _json_type(types), "required": default is ...}
            if default is not ...:
                field_schema["default"] = default
            if (op, name) in _CHOICES:
                field_schema["choices"] = list(_CHOICES[(op, name)])
            if name in _FRACTION_FIELDS:
                field_schema.update(minimum=0, exclusive_minimum=True, maximum=1)
            if op == "dedup" and name == "threshold":
                field_schema.update(minimum=-1, maximum=1)
            if name in ("k", "block"):
                field_schema["minimum"] = 1 if name == "block" else 0
            described[name] = field_schema
        ops[op] = {"fields": described}
    ops["diversity"]["one_of"] = ops["random"]["one_of"] = [["k", "fraction"]]
    ops["threshold"]["any_of"] = [["min", "max"]]
    return {"ops": ops}


def _check_fraction(where: str, name: str, value: Any) -> None:
    if value is not None and not 0 < value <= 1:
        raise PolicyError(f"{where}: '{name}' must be in (0, 1], got {value}")


def policy_validate(spec: Any) -> list[dict[str, Any]]:
    """The policy with defaults filled in; ``PolicyError`` explains the first problem."""
    if not isinstance(spec, list):
        raise PolicyError(f"a policy is a list of steps, got {type(spec).__name__}")
    normalised = []
    for number, step in enumerate(spec, start=1):
        if not isinstance(step, dict) or "op" not in step:
            raise PolicyError(f"step {number}: each step is an object with an 'op'")
        op = step["op"]
        if op not in _FIELDS:
            raise PolicyError(f"step {number}: unknown op {op!r}; known: {sorted(_FIELDS)}")
        where = f"step {number} ({op})"
        fields = _FIELDS[op]
        unknown = set(step) - set(fields) - {"op"}
        if unknown:
            raise PolicyError(
                f"{where}: unknown fields {sorted(unknown)}; allowed {sorted(fields)}"
            )
        out: dict[str, Any] = {"op": op}
        for name, (types, default) in fields.items():
            if name not in step or step[name] is None:
                if default is ...:
                    raise PolicyError(f"{where}: '{name}' is required")
                out[name] = default
                continue
            value = step[name]
            if isinstance(value, bool) and bool not in (
                types if isinstance(types, tuple) else (types,)
            ):
                raise PolicyError(f"{where}: '{name}' must be a number, got {value!r}")
            if not isinstance(value, types):
                raise PolicyError(f"{where}: '{name}' has the wrong type ({type(value).__name__})")
            out[name] = value
        for name in _FRACTION_FIELDS:
            _check_fraction(where, name, out.get(name))
        if op in ("top_k",) and out["k"] < 0:
            raise PolicyError(f"{where}: 'k' must be >= 0")
        if op in ("diversity", "random"):
            if (out["k"] is None) == (out["fraction"] is None):
                raise PolicyError(f"{where}: give exactly one of 'k' and 'fraction'")
            if out["k"] is not None and out["k"] < 0:
                raise PolicyError(f"{where}: 'k' must be >= 0")
        if op == "threshold" and out["min"] is None and out["max"] is None:
            raise PolicyError(f"{where}: give 'min', 'max' or both")
        if op == "dedup" and not -1 <= out["threshold"] <= 1:
            raise PolicyError(f"{where}: 'threshold' is a cosine similarity in [-1, 1]")
        if op == "dedup" and out["block"] < 1:
            raise PolicyError(f"{where}: 'block' must be >= 1")
        for (choice_op, name), choices in _CHOICES.items():
            if op == choice_op and out[name] not in choices:
                raise PolicyError(f"{where}: '{name}' must be one of {list(choices)}")
        if op == "diversity" and out["method"] == "mmr" and out["score"] is None:
            raise PolicyError(f"{where}: MMR needs a 'score'")
        if op == "quota":
            for category, count in out["quotas"].items():
                if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                    raise PolicyError(f"{where}: quota for {category!r} must be an int >= 0")
        flags = out.get("flags")
        if (
            op == "exclude_flags"
            and flags is not None
            and not all(isinstance(f, str) for f in flags)
        ):
            raise PolicyError(f"{where}: 'flags' must be a list of flag names")
        normalised.append(out)
    return normalised


# --- helpers ----------------------------------------------------------------------------


def _score(inputs: SelectionInputs, name: str, where: str) -> np.ndarray:
    if name not in inputs.scores:
        raise PolicyError(f"{where}: no score named {name!r}; have {sorted(inputs.scores)}")
    values = np.asarray(inputs.scores[name], dtype=np.float64)
    if values.shape != (inputs.n_items,):
        raise PolicyError(f"{where}: score {name!r} has shape {values.shape}")
    return values


def _category_codes(inputs: SelectionInputs, where: str) -> tuple[np.ndarray, np.ndarray]:
    if inputs.categories is None:
        raise PolicyError(f"{where}: this step works per category, but no categories were given")
    labels, codes = np.unique(np.asarray(inputs.categories), return_inverse=True)
    return labels, codes


def _rank_desc(values: np.ndarray, candidates: np.ndarray, where: str) -> np.ndarray:
    """``candidates`` ordered by value, best first (ties: lower index first)."""
    chosen = values[candidates]
    if np.isnan(chosen).any():
        raise PolicyError(f"{where}: {int(np.isnan(chosen).sum())} candidates have a NaN score")
    return candidates[np.lexsort((candidates, -chosen))]


def _count(fraction: float, n: int) -> int:
    return 0 if n == 0 else max(1, math.floor(fraction * n + 0.5))


def _top_per_group(
    values: np.ndarray,
    candidates: np.ndarray,
    codes: np.ndarray,
    take: Callable[[int, int], int],
    where: str,
) -> np.ndarray:
    """Best ``take(code, group size)`` candidates of each group, vectorised."""
    ordered = _rank_desc(values, candidates, where)
    group = codes[ordered]
    by_group = ordered[np.argsort(group, kind="stable")]
    group_sorted = codes[by_group]
    starts = np.searchsorted(group_sorted, group_sorted, side="left")
    rank = np.arange(len(by_group)) - starts
    present, sizes = np.unique(group_sorted, return_counts=True)
    limit = np.zeros(int(codes.max(initial=0)) + 1, dtype=np.int64)
    for code, size in zip(present, sizes, strict=True):
        limit[code] = take(int(code), int(size))
    return by_group[rank < limit[group_sorted]]


def _unit_embeddings(inputs: SelectionInputs, where: str) -> np.ndarray:
    if inputs.embeddings is None:
        raise PolicyError(f"{where}: this step needs embeddings, none were given")
    emb = np.asarray(inputs.embeddings, dtype=np.float32)
    if emb.ndim != 2 or len(emb) != inputs.n_items:
        raise PolicyError(f"{where}: embeddings must be (n_items, d), got {emb.shape}")
    return emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)


# --- steps ------------------------------------------------------------------------------


def near_duplicates_keep(
    embeddings: np.ndarray, order: np.ndarray, threshold: float, block: int = 2048
) -> np.ndarray:
    """Greedy near-duplicate removal: walk ``order`` (best first) and keep an item unless its
    cosine similarity to an already kept item exceeds ``threshold``. Blocked matrix products:
    each block is compared with everything kept so far in one product, and only items with a
    conflict inside their own block are resolved one by one."""
    kept_rows: list[np.ndarray] = []
    kept_idx: list[np.ndarray] = []
    for start in range(0, len(order), block):
        idx = order[start : start + block]
        vectors = embeddings[idx]
        accepted = np.ones(len(idx), dtype=bool)
        for kept in kept_rows:
            accepted &= (vectors @ kept.T).max(axis=1, initial=-np.inf) <= threshold
        within = np.triu(vectors @ vectors.T > threshold, k=1)
        for j in np.flatnonzero(within.any(axis=0)):
            if accepted[j] and (accepted[:j] & within[:j, j]).any():
                accepted[j] = False
        kept_rows.append(vectors[accepted])
        kept_idx.append(idx[accepted])
    return np.concatenate(kept_idx) if kept_idx else order[:0]


def k_center_greedy(
    embeddings: np.ndarray, candidates: np.ndarray, k: int, first: int
) -> np.ndarray:
    """Greedy k-center on cosine distance: start at ``first``, then repeatedly add the
    candidate farthest from everything chosen. O(len(candidates) * k * d)."""
    k = min(k, len(candidates))
    if k == 0:
        return candidates[:0]
    vectors = embeddings[candidates]
    chosen = [int(np.flatnonzero(candidates == first)[0])]
    distance = 1.0 - vectors @ vectors[chosen[0]]
    for _ in range(k - 1):
        distance[chosen[-1]] = -np.inf
        pick = int(np.argmax(distance))
        chosen.append(pick)
        distance = np.minimum(distance, 1.0 - vectors @ vectors[pick])
        distance[chosen] = -np.inf
    return candidates[chosen]


def mmr_select(
    embeddings: np.ndarray, candidates: np.ndarray, values: np.ndarray, k: int, lam: float
) -> np.ndarray:
    """Maximal marginal relevance: ``lam * score - (1 - lam) * max cosine to the chosen``,
    with scores min-max scaled to [0, 1] over the candidates."""
    k = min(k, len(candidates))
    if k == 0:
        return candidates[:0]
    vectors = embeddings[candidates]
    relevance = values[candidates]
    span = relevance.max() - relevance.min()
    relevance = (relevance - relevance.min()) / span if span > 0 else np.zeros_like(relevance)
    max_sim = np.full(len(candidates), -1.0)
    taken = np.zeros(len(candidates), dtype=bool)
    chosen = []
    for _ in range(k):
        gain = np.where(taken, -np.inf, lam * relevance - (1 - lam) * np.maximum(max_sim, 0))
        pick = int(np.argmax(gain))
        chosen.append(pick)
        taken[pick] = True
        max_sim = np.maximum(max_sim, vectors @ vectors[pick])
    return candidates[chosen]


def _apply(
    step: dict[str, Any], candidates: np.ndarray, inputs: SelectionInputs, where: str
) -> np.ndarray:
    op = step["op"]
    if op == "exclude_flags":
        names = step["flags"] if step["flags"] is not None else sorted(inputs.flags)
        drop = np.zeros(inputs.n_items, dtype=bool)
        for name in names:
            if name not in inputs.flags:
                raise PolicyError(f"{where}: no flag named {name!r}; have {sorted(inputs.flags)}")
            flag = np.asarray(inputs.flags[name])
            if flag.shape != (inputs.n_items,):
                raise PolicyError(f"{where}: flag {name!r} has shape {flag.shape}")
            drop |= flag.astype(bool)
        return candidates[~drop[candidates]]
    if op == "threshold":
        values = _score(inputs, step["score"], where)[candidates]
        keep = np.ones(len(candidates), dtype=bool)
        if step["min"] is not None:
            keep &= values >= step["min"]
        if step["max"] is not None:
            keep &= values <= step["max"]
        return candidates[keep]
    if op in ("top_fraction", "top_k"):
        values = _score(inputs, step["score"], where)

        def take(_code: int, size: int) -> int:
            return _count(step["fraction"], size) if op == "top_fraction" else min(step["k"], size)

        if step["per_category"]:
            _, codes = _category_codes(inputs, where)
            return _top_per_group(values, candidates, codes, take, where)
        return _rank_desc(values, candidates, where)[: take(0, len(candidates))]
    if op == "quota":
        values = _score(inputs, step["score"], where)
        labels, codes = _category_codes(inputs, where)
        quotas = {str(k): v for k, v in step["quotas"].items()}
        unknown = set(quotas) - {str(label) for label in labels}
        if unknown:
            raise PolicyError(f"{where}: quotas name unknown categories {sorted(unknown)}")
        per_code = [quotas.get(str(label), step["default"]) for label in labels]
        return _top_per_group(values, candidates, codes, lambda c, s: min(per_code[c], s), where)
    if op == "align2llava":
        first = {
            "op": "top_fraction",
            "score": step["question_score"],
            "fraction": step["fraction"],
            "per_category": True,
        }
        second = dict(
            first, score=step["answer_score"], fraction=step["answer_fraction"] or step["fraction"]
        )
        return _apply(second, _apply(first, candidates, inputs, where), inputs, where)
    if op == "dedup":
        embeddings = _unit_embeddings(inputs, where)
        order = (
            candidates
            if step["score"] is None
            else _rank_desc(_score(inputs, step["score"], where), candidates, where)
        )
        return near_duplicates_keep(embeddings, order, float(step["threshold"]), step["block"])
    if op == "diversity":
        embeddings = _unit_embeddings(inputs, where)
        k = step["k"] if step["k"] is not None else _count(step["fraction"], len(candidates))
        if step["method"] == "mmr":
            values = _score(inputs, step["score"], where)
            return mmr_select(embeddings, candidates, values, k, float(step["lambda"]))
        if len(candidates) == 0:
            return candidates
        first = candidates[0]
        if step["score"] is not None:
            first = _rank_desc(_score(inputs, step["score"], where), candidates, where)[0]
        return k_center_greedy(embeddings, candidates, k, int(first))
    if op == "random":
        k = step["k"] if step["k"] is not None else _count(step["fraction"], len(candidates))
        rng = np.random.default_rng(step["seed"])
        return rng.choice(candidates, size=min(k, len(candidates)), replace=False)
    raise PolicyError(f"{where}: unknown op {op!r}")  # unreachable after validation


def select(policy: Sequence[dict[str, Any]], inputs: SelectionInputs) -> SelectionResult:
    """Apply a policy to all items; returns the kept indices and a per-step log."""
    steps = policy_validate(list(policy))
    candidates = np.arange(inputs.n_items)
    log = []
    for number, step in enumerate(steps, start=1):
        before = len(candidates)
        candidates = _apply(step, candidates, inputs, f"step {number} ({step['op']})")
        log.append({"op": step["op"], "before": before, "after": int(len(candidates))})
    return SelectionResult(indices=np.sort(candidates), log=log)


def random_baseline(
    n_items: int, size: int, *, seed: int = 0, exclude: np.ndarray | None = None
) -> np.ndarray:
    """``size`` random item indices (ascending): the baseline a selection is compared with.
    ``exclude`` (bool mask) keeps e.g. safety-flagged items out of the baseline too."""
    pool = np.arange(n_items) if exclude is None else np.flatnonzero(~np.asarray(exclude, bool))
    if not 0 <= size <= len(pool):
        raise PolicyError(f"cannot draw {size} items from {len(pool)}")
    return np.sort(np.random.default_rng(seed).choice(pool, size=size, replace=False))
