"""Held-out read-outs per criterion and per rule beside annotator agreement: computed the same
for every recipe, shown on the run page and in the API; a VLM run reports them."""

from __future__ import annotations

import pytest

from core.models import Job
from curation.models import RewardModelRun
from curation.selectors.agreement import annotator_agreement
from curation.services.readouts import (
    agreement_with_annotators,
    held_out_readouts,
    ordered_pair_accuracy,
)


def test_pairs_a_step_apart_are_counted_and_ordered_by_the_reward():
    values = {"a": 1.0, "b": 0.75, "c": 0.6, "d": 0.0}
    # a>b, a>c, a>d, b>d, c>d are a step (0.25) or more apart; b-c (0.15) is not a pair
    right = {"a": 4.0, "b": 3.0, "c": 2.0, "d": 1.0}
    assert ordered_pair_accuracy(values, right) == {"accuracy": 1.0, "pairs": 5, "items": 4}
    wrong = {k: -v for k, v in right.items()}
    assert ordered_pair_accuracy(values, wrong)["accuracy"] == 0.0
    # a tie counts half; an item without a reward is left out
    assert ordered_pair_accuracy({"a": 1.0, "b": 0.0, "x": 0.5}, {"a": 1.0, "b": 1.0}) == {
        "accuracy": 0.5, "pairs": 1, "items": 2
    }  # fmt: skip
    assert ordered_pair_accuracy({"a": 1.0, "b": 0.9}, right) is None  # nothing to order


def test_readouts_per_criterion_and_rule_leave_out_what_cannot_be_read():
    rewards = {"1": 0.9, "2": 0.1, "3": 0.5}
    out = held_out_readouts(
        rewards,
        criteria={"helpfulness": {"1": 1.0, "2": 0.0}, "clarity": {"1": 1.0}},
        rules={"no-red": {"1": 0.0, "2": 1.0, "3": 1.0}},
    )
    assert out["eval_accuracy_by_criterion"] == {
        "helpfulness": {"accuracy": 1.0, "pairs": 1, "items": 2}
    }
    # complying items 2 (0.1) and 3 (0.5) against violating item 1 (0.9): both wrong
    assert out["eval_accuracy_by_rule"] == {"no-red": {"accuracy": 0.0, "pairs": 2, "items": 3}}


def test_the_model_and_each_annotator_are_measured_on_the_same_pairs():
    # annotator 1 orders a > b > c; annotator 2 agrees on a > c, ties a and b, has no b-c...
    scores = {1: {"a": 1.0, "b": 0.5, "c": 0.0}, 2: {"a": 1.0, "b": 1.0, "c": 0.0},
              3: {"x": 1.0}}  # fmt: skip
    rewards = {"a": 3.0, "b": 1.0, "c": 2.0}  # orders a > c > b
    out = agreement_with_annotators(scores, rewards)
    # k=1: pairs ab, ac, bc; the model gets ab and ac right, bc wrong: 2 of 3.
    # k=2: pairs ac, bc (ab is its tie); the model gets ac right, bc wrong: 1 of 2.
    assert out["model"] == round(3 / 5, 4) and out["pairs"] == 5
    # peers on the same pairs: for k=1, annotator 2 agrees on ac and bc, ties ab (a half);
    # for k=2, annotator 1 agrees on ac and bc; annotator 3 shares no two items
    assert out["annotators"] == round((2.5 + 2) / 5, 4) and out["peer_comparisons"] == 5
    assert out["annotators_compared"] == 2
    # a reward that ties everything is a coin; nothing ordered, nothing to read
    assert agreement_with_annotators(scores, dict.fromkeys(rewards, 0.0))["model"] == 0.5
    assert agreement_with_annotators({1: {"a": 1.0, "b": 1.0}}, rewards) is None


def test_annotator_agreement_per_rule_counts_decided_verdicts_only():
    questions = [
        {"key": "helpfulness", "type": "rating", "criterion": "helpfulness",
         "labels": [{"value": v} for v in range(1, 6)]},
        {"key": "safety", "type": "rule_verdict", "criterion": "safety"},
    ]  # fmt: skip

    def answer(rating, red, hate):
        return {"helpfulness": rating, "safety": {"no-red": {"verdict": red},
                                                  "hate": {"verdict": hate}}}  # fmt: skip

    answers = {
        1: [answer(5, "violates", "unsure"), answer(4, "violates", "does_not_violate")],
        2: [answer(1, "violates", "does_not_violate"), answer(5, "does_not_violate",
                                                               "does_not_violate")],
    }  # fmt: skip
    out = annotator_agreement(answers, questions, [1, 2])
    assert out["agreement_by_rule"] == {"hate": 1.0, "no-red": 0.5}
    # the overall rate stays the rubric's (rules reported apart)
    assert out["agreement"] == 0.5 and out["agreement_by_criterion"] == {"helpfulness": 0.5}


@pytest.mark.django_db
def test_the_run_page_and_the_api_show_accuracy_per_criterion_and_rule_beside_agreement(
    project, staff
):
    from django.test import Client
    from rest_framework.test import APIClient

    job = Job.objects.create(kind=Job.Kind.REWARD_MODEL_TRAIN, status=Job.Status.SUCCEEDED)
    run = RewardModelRun.objects.create(
        project=project, job=job, hyperparameters={"trainer": "vlm"}, text_encoder="x",
        in_progress=False, artifact_path="unused",
        metrics={
            "eval_accuracy": 0.71, "eval_item_pairs": 40,
            "eval_vs_annotators": {"model": 0.618, "annotators": 0.672, "pairs": 15963,
                                   "peer_comparisons": 3600, "annotators_compared": 5},
            "eval_accuracy_by_criterion": {"helpfulness": {"accuracy": 0.625, "pairs": 16,
                                                           "items": 8}},
            "eval_accuracy_by_rule": {"no-<b>red</b>": {"accuracy": 0.875, "pairs": 12,
                                                        "items": 7}},
        },
        human_agreement={"agreement": 0.8,
                         "agreement_by_criterion": {"helpfulness": 0.75, "clarity": 0.5},
                         "agreement_by_rule": {"no-<b>red</b>": 0.9}},
    )  # fmt: skip
    # the API
    api = APIClient()
    api.force_authenticate(staff)
    rows = api.get(f"/api/v1/reward-models/{run.pk}/").json()["readouts"]
    assert rows == [
        {"kind": "overall", "name": "overall", "accuracy": 0.71, "pairs": 40, "agreement": 0.8},
        {"kind": "criterion", "name": "clarity", "accuracy": None, "pairs": None,
         "agreement": 0.5},
        {"kind": "criterion", "name": "helpfulness", "accuracy": 0.625, "pairs": 16,
         "agreement": 0.75},
        {"kind": "rule", "name": "no-<b>red</b>", "accuracy": 0.875, "pairs": 12,
         "agreement": 0.9},
    ]  # fmt: skip
    # the page: one row each, the model's figure beside the annotators', names escaped
    client = Client()
    client.force_login(staff)
    page = client.get(f"/reward-models/{run.pk}/").content.decode()
    table = page[page.index('id="readouts"') : page.index("</table>", page.index('id="readouts"'))]
    assert "<th>helpfulness</th><td>0.625</td><td>16</td><td>0.750</td>" in table
    assert "<th>clarity</th><td>–</td><td>–</td><td>0.500</td>" in table
    assert "<th>Rule no-&lt;b&gt;red&lt;/b&gt;</th><td>0.875</td><td>12</td><td>0.900</td>" in table
    assert "<b>red" not in page
    # like for like first: the model and the annotators on the same pairs, and which is ahead
    versus = page[page.index('id="vs-annotators"') : page.index("Held-out pairwise accuracy")]
    assert "0.618" in versus and "15,963 pairs, 5 annotators" in versus  # grouped digits
    assert "0.672" in versus and "the model is below the annotators" in versus
    runs = client.get(f"/projects/{project.pk}/reward-models/").content.decode()
    assert "<td>0.618</td>\n    <td>0.672</td>" in runs


def test_the_overall_row_counts_the_pairs_its_accuracy_was_measured_on():
    from curation.selectors.runs import run_readouts

    # the head recipe validates on item and turn pairs (eval_pairs), item pairs being a part
    head = RewardModelRun(metrics={"eval_accuracy": 0.9, "eval_pairs": 300,
                                   "eval_item_pairs": 120}, human_agreement={})  # fmt: skip
    assert run_readouts(run=head) == [
        {"kind": "overall", "name": "overall", "accuracy": 0.9, "pairs": 300, "agreement": None}
    ]
    vlm = RewardModelRun(metrics={"eval_accuracy": 0.6, "eval_item_pairs": 120})
    assert run_readouts(run=vlm)[0]["pairs"] == 120
