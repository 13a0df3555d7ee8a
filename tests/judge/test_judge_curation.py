"""Curation excludes what the judge, the humans or both found violating; the dataset (and so
its export manifest) records which judge run, models and thresholds it used."""

from __future__ import annotations

import pytest

from annotation.models import Suggestion
from core.models import Job
from curation.models import ItemScore, JudgeRun, RewardModelRun
from curation.services.curation import curation_commit, curation_evaluate
from tests.judge.helpers import safety_project

pytestmark = pytest.mark.django_db


def _world(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    project, owner, truth = safety_project("jcur", n_items=6)
    run = RewardModelRun.objects.create(
        project=project,
        job=Job.objects.create(kind=Job.Kind.REWARD_MODEL_TRAIN, status=Job.Status.SUCCEEDED),
        hyperparameters={},
        text_encoder="hash",
        in_progress=False,
    )
    ids = sorted(truth)
    for n, item_id in enumerate(ids):
        ItemScore.objects.create(run=run, item_id=item_id, overall=float(n))
    judge_run = JudgeRun.objects.create(
        project=project,
        constitution=project.constitutions.order_by("-version").first(),
        job=Job.objects.create(kind=Job.Kind.SAFETY_JUDGE, status=Job.Status.SUCCEEDED),
        config={"vlm": "some/vlm", "thresholds": {"relevance_threshold": 0.22}},
    )
    # the judge says "triangle" on the first three items only
    for item_id in ids:
        for rule in ("no-red", "no-triangle"):
            violated = rule == "no-triangle" and item_id in ids[:3]
            Suggestion.objects.create(
                item_id=item_id,
                question_key="safety",
                rule_key=rule,
                judge_run_id=judge_run.pk,
                value={"verdict": "violates" if violated else "does_not_violate"},
                model_version=judge_run.model_version,
                constitution=judge_run.constitution,
            )
    return project, run, judge_run, truth, ids


def test_judge_human_and_both_policies(settings, tmp_path):
    project, run, judge_run, truth, ids = _world(settings, tmp_path)
    judged = set(ids[:3])

    def kept(flags):
        result = curation_evaluate(
            project=project, run=run, policy=[{"op": "exclude_flags", "flags": flags}]
        )
        return set(int(i) for i in result["_item_ids"]), result

    only_judge, result = kept(["unsafe_judge"])
    assert only_judge == set(ids) - judged
    assert result["judge"]["run_id"] == judge_run.pk
    assert result["judge"]["config"]["thresholds"]["relevance_threshold"] == 0.22
    by_rule, _ = kept(["judge:no-red"])
    assert by_rule == set(ids)  # the judge found no red shape
    both, _ = kept(["unsafe_judge_and_human"])
    humans, plain = kept(["unsafe_human"])
    assert both == set(ids) - (judged & (set(ids) - humans))
    assert plain["judge"] is None  # no judge flag used: none recorded
    dataset = curation_commit(
        project=project, run=run, policy=[{"op": "exclude_flags", "flags": ["unsafe_judge"]}]
    )
    assert dataset.statistics["judge"]["model_version"] == judge_run.model_version
