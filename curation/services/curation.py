"""Curation: apply a selection policy to scored items, preview it, commit it.

The items are a project's (scored by one of its model versions), or a scoring's: every item of
the scored corpus, in a project or not (corpus x model). Both select the same way.

A committed curation is an immutable DatasetVersion. Every preview and commit reports a random
baseline of the same size beside the selection, so the policy's effect is visible.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from django.db import transaction
from django.db.models import Max

from annotation.models import Project
from core.errors import DomainError
from corpora.models import Corpus
from curation.models import DatasetItem, DatasetVersion, RewardModelRun, ScoringRun
from curation.selectors.judge import judge_flag_table
from curation.selectors.scores import (
    MODEL_VIOLATION_THRESHOLD,
    ScoreTable,
    human_unsafe_items,
    item_summaries,
    project_score_table,
    scoring_score_table,
)
from curation.services.events import curation_committed_emit

HISTOGRAM_BINS = 20
SAMPLE_ITEMS = 8
# Named presets expand to policy steps; "align2llava" is the Align²LLaVA cascade (per category,
# top 30% by question score, then top 30% of those by answer score).
PRESETS: dict[str, list[dict[str, Any]]] = {
    "align2llava": [
        {"op": "exclude_flags", "flags": ["unsafe"]},
        {"op": "align2llava", "question_score": "question", "answer_score": "answer"},
    ],
    "top10": [
        {"op": "exclude_flags", "flags": ["unsafe"]},
        {"op": "top_fraction", "score": "overall", "fraction": 0.1},
    ],
}


def policy_expand(policy: Any) -> list[dict[str, Any]]:
    """A policy is a list of steps, a preset name, or a list mixing steps and {"preset": name}."""
    from rewardmodel.selection import PolicyError, policy_validate

    if isinstance(policy, str):
        policy = [{"preset": policy}]
    if not isinstance(policy, list) or not policy:
        raise DomainError(
            "invalid_policy", "policy must be a non-empty list of steps or a preset name."
        )
    steps: list[dict[str, Any]] = []
    for step in policy:
        if isinstance(step, dict) and "preset" in step:
            if step["preset"] not in PRESETS:
                raise DomainError(
                    "invalid_policy",
                    f"Unknown preset {step['preset']!r}; known: {', '.join(sorted(PRESETS))}.",
                )
            steps.extend(PRESETS[step["preset"]])
        else:
            steps.append(step)
    try:
        return policy_validate(steps)
    except PolicyError as exc:
        raise DomainError("invalid_policy", str(exc)) from exc


# Score and flag names every scored project has; rubric criteria add scores by their key, and
# each constitution rule a flag "rule:<key>" (see _inputs).
BASE_SCORES = ("overall", "question", "answer")
BASE_FLAGS = (
    "unsafe",
    "unsafe_model",
    "unsafe_human",
    "unsafe_judge",
    "unsafe_judge_and_human",
    "unsafe_judge_or_human",
)


def curation_policy_schema() -> dict[str, Any]:
    """The policy language for the curation form: the ops as ``policy_validate`` checks them,
    the presets as they expand, and the score and flag names every project has."""
    from rewardmodel.selection import policy_schema

    return {
        **policy_schema(),
        "presets": PRESETS,
        "scores": list(BASE_SCORES),
        "flags": list(BASE_FLAGS),
    }


def _needs_embeddings(steps: list[dict[str, Any]]) -> bool:
    return any(step["op"] in ("dedup", "diversity") for step in steps)


def _embeddings(run: RewardModelRun, item_ids: np.ndarray) -> np.ndarray:
    """[image | text] features of each item, from the feature cache (featurised if missing)."""
    from corpora.models import Item
    from curation.services.features import (
        Featurizable,
        encoder_id_of,
        feature_loader,
        featurize_many,
    )
    from curation.services.model_cache import encoder_specs, run_artifact
    from curation.services.texts import item_text

    artifact = run_artifact(run)
    text_spec, image_spec = encoder_specs(run)
    text_id, image_id = artifact.text_encoder_id, artifact.image_encoder_id
    if artifact.recipe.get("trainer") == "vlm":  # it has no feature encoders: the defaults
        text_spec, image_spec = "default-text", "default-image-colour"
        text_id, image_id = encoder_id_of(text_spec), encoder_id_of(image_spec)
    items = Item.objects.select_related("image").in_bulk(item_ids.tolist())
    things = []
    for item_id in item_ids:  # whole items, as dedup and diversity compare them
        item = items[int(item_id)]
        image = (item.image.sha256, item.image.file) if item.image_id else (None, None)
        text = item_text(item.conversations or [], item.questions)
        things.append(Featurizable(text=text, image_key=image[0], image_file=image[1]))
    refs = featurize_many(things, text_encoder=text_spec, image_encoder=image_spec)
    load = feature_loader(text_encoder_id=text_id, image_encoder_id=image_id)
    image, text = load(refs)
    return np.concatenate([image, text], axis=1)


def _inputs(table: ScoreTable, run: RewardModelRun, project_id: int, steps: list[dict]):
    from rewardmodel.selection import SelectionInputs

    scores: dict[str, np.ndarray] = {"overall": table.overall, **table.criteria}
    # The Align²LLaVA cascade reads a question score and an answer score: the answerability
    # criterion stands for the question when the rubric has one, the overall reward otherwise.
    scores.setdefault("question", table.criteria.get("answerability", table.overall))
    scores.setdefault("answer", table.overall)
    unsafe_model = np.zeros(len(table), dtype=bool)
    flags: dict[str, np.ndarray] = {}
    for name, probability in table.rules.items():
        flags[f"rule:{name}"] = probability >= MODEL_VIOLATION_THRESHOLD
        unsafe_model |= flags[f"rule:{name}"]
    unsafe_human = np.isin(table.item_ids, list(human_unsafe_items(project_id=project_id)))
    flags.update(
        unsafe_model=unsafe_model, unsafe_human=unsafe_human, unsafe=unsafe_model | unsafe_human
    )
    # the safety judge's verdicts (latest finished run): exclude what the judge, the humans or
    # both found violating with "unsafe_judge", "unsafe_human", "unsafe_judge_and_human"
    _, judge = judge_flag_table(project_id=project_id, item_ids=table.item_ids)
    unsafe_judge = judge.pop("unsafe_judge", np.zeros(len(table), dtype=bool))
    flags.update(judge)
    flags.update(
        unsafe_judge=unsafe_judge,
        unsafe_judge_and_human=unsafe_judge & unsafe_human,
        unsafe_judge_or_human=unsafe_judge | unsafe_human,
    )
    embeddings = _embeddings(run, table.item_ids) if _needs_embeddings(steps) else None
    return SelectionInputs(
        scores=scores, categories=table.categories, embeddings=embeddings, flags=flags
    )


def _histogram(values: np.ndarray, edges: np.ndarray) -> list[int]:
    return (
        np.histogram(values, bins=edges)[0].astype(int).tolist()
        if len(values)
        else [0] * (len(edges) - 1)
    )


def _by_category(categories: np.ndarray) -> dict[str, int]:
    labels, counts = np.unique(categories.astype(str), return_counts=True)
    return {str(k): int(v) for k, v in zip(labels, counts, strict=True)}


def _describe(table: ScoreTable, indices: np.ndarray, flags: np.ndarray) -> dict[str, Any]:
    values = table.overall[indices]
    return {
        "count": int(len(indices)),
        "by_category": _by_category(table.categories[indices]),
        "mean_score": round(float(values.mean()), 4) if len(values) else None,
        "flagged_unsafe": int(flags[indices].sum()),
    }


def curation_evaluate(
    *,
    project: Project,
    run: RewardModelRun,
    policy: Any,
    seed: int = 0,
    scoring: ScoringRun | None = None,
) -> dict[str, Any]:
    """Everything a preview shows: counts, per-step log, histograms, samples and the baseline.

    With `scoring`, the items are the scoring's corpus (its model, `run`, of `project`);
    otherwise the project's items scored by `run`."""
    from rewardmodel.selection import PolicyError, random_baseline, select

    steps = policy_expand(policy)
    if scoring is not None:
        table = scoring_score_table(scoring=scoring)
        where = "of this scoring's corpus"
    else:
        table = project_score_table(project_id=project.pk, run=run)
        where = "of this project"
    if len(table) == 0:
        raise DomainError(
            "not_scored", f"No item {where} is scored by this model yet; score first.", status=409
        )
    inputs = _inputs(table, run, project.pk, steps)
    try:
        result = select(steps, inputs)
    except PolicyError as exc:
        raise DomainError("invalid_policy", str(exc)) from exc
    chosen = result.indices
    baseline = random_baseline(len(table), len(chosen), seed=seed)
    unsafe = inputs.flags["unsafe"]
    low, high = float(table.overall.min()), float(table.overall.max())
    edges = np.linspace(low, high if high > low else low + 1.0, HISTOGRAM_BINS + 1)
    top = chosen[np.argsort(-table.overall[chosen], kind="stable")[:SAMPLE_ITEMS]]
    summaries = item_summaries([int(table.item_ids[i]) for i in top])
    judge_info, _ = judge_flag_table(project_id=project.pk, item_ids=[])
    uses_judge = any(
        step["op"] == "exclude_flags"
        and any("judge" in f for f in (step.get("flags") or ["judge"]))
        for step in steps
    )
    return {
        "policy": steps,
        "model_run_id": run.pk,
        # which judge run, models and thresholds the policy's judge flags came from
        "judge": judge_info if uses_judge else None,
        "scoring_id": scoring.pk if scoring is not None else None,
        # the items there are to select from: the project's, or the scored corpus's
        "items_in_project": table.n_project_items,
        "items_scored": len(table),
        "unscored": table.n_project_items - len(table),
        "steps": result.log,
        "selected": _describe(table, chosen, unsafe),
        "random_baseline": {
            **_describe(table, baseline, unsafe),
            "seed": seed,
            "item_ids": sorted(int(i) for i in table.item_ids[baseline]),
        },
        "all": _describe(table, np.arange(len(table)), unsafe),
        "histogram": {
            "edges": [round(float(e), 4) for e in edges],
            "all": _histogram(table.overall, edges),
            "selected": _histogram(table.overall[chosen], edges),
        },
        "samples": [
            {
                **summaries.get(int(table.item_ids[i]), {}),
                "score": round(float(table.overall[i]), 4),
            }
            for i in top
        ],
        "_item_ids": table.item_ids[chosen],
        "_scores": table.overall[chosen],
        "_baseline_ids": table.item_ids[baseline],
    }


def public(evaluation: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in evaluation.items() if not k.startswith("_")}


def curation_commit(
    *,
    project: Project,
    run: RewardModelRun,
    policy: Any,
    name: str = "",
    user=None,
    seed: int = 0,
    scoring: ScoringRun | None = None,
) -> DatasetVersion:
    """A new immutable dataset version of `project` (with `scoring`: over that scoring's
    corpus, `project` being its model's; the version records the scoring)."""
    evaluation = curation_evaluate(
        project=project, run=run, policy=policy, seed=seed, scoring=scoring
    )
    corpora = (
        Corpus.objects.filter(pk=scoring.corpus_id)
        if scoring is not None
        else Corpus.objects.filter(projects=project)
    )
    corpus_versions = {str(pk): version for pk, version in corpora.values_list("pk", "version")}
    statistics = {k: v for k, v in public(evaluation).items() if k not in ("policy", "samples")}
    # the baseline's ids are the preview's; a committed version keeps its own items only
    statistics["random_baseline"] = {
        k: v for k, v in statistics["random_baseline"].items() if k != "item_ids"
    }
    with transaction.atomic():
        # Lock the project row so two commits cannot take the same version number.
        Project.objects.select_for_update().filter(pk=project.pk).first()
        number = (
            DatasetVersion.objects.filter(project=project).aggregate(n=Max("number"))["n"] or 0
        ) + 1
        dataset = DatasetVersion.objects.create(
            project=project,
            number=number,
            name=name or f"{project.name} v{number}",
            policy=evaluation["policy"],
            run=run,
            scoring=scoring,
            corpus_versions=corpus_versions,
            statistics=statistics,
            n_items=len(evaluation["_item_ids"]),
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        DatasetItem.objects.bulk_create(
            [
                DatasetItem(dataset=dataset, item_id=int(item_id), score=float(score))
                for item_id, score in zip(
                    evaluation["_item_ids"], evaluation["_scores"], strict=True
                )
            ],
            batch_size=5000,
        )
        curation_committed_emit(dataset=dataset)
    return dataset


def dataset_diff(
    *, first: DatasetVersion, second: DatasetVersion, sample: int = 20
) -> dict[str, Any]:
    a = set(first.members.values_list("item_id", flat=True))
    b = set(second.members.values_list("item_id", flat=True))
    only_a, only_b = sorted(a - b), sorted(b - a)
    return {
        "dataset": first.pk,
        "other": second.pk,
        "common": len(a & b),
        "only_in_dataset": len(only_a),
        "only_in_other": len(only_b),
        "jaccard": round(len(a & b) / len(a | b), 4) if a | b else 1.0,
        "sample_only_in_dataset": only_a[:sample],
        "sample_only_in_other": only_b[:sample],
        "policy_changed": first.policy != second.policy,
        "model_changed": first.run_id != second.run_id,
        "corpus_versions": {"dataset": first.corpus_versions, "other": second.corpus_versions},
    }
