"""Training runs end to end in-process: the selector's data -> features -> head -> artifact.

The item recipe runs here on a tiny random BERT.
"""

from __future__ import annotations

import pytest
from django.test import Client

from core.errors import DomainError
from core.models import Job
from curation.models import RewardModelRun
from curation.services.model_cache import run_artifact
from curation.services.reward_models import hyperparameters_clean, reward_model_run_start
from tests.stats import chance_bound

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _train(project, staff, hyper, capture) -> RewardModelRun:
    with capture(execute=True):
        run = reward_model_run_start(project=project, user=staff, hyperparameters=hyper)
    run.refresh_from_db()
    job = Job.objects.get(pk=run.job_id)
    assert job.status == Job.Status.SUCCEEDED, job.error
    return run


def test_training_learns_and_records_curve(
    project, staff, small_hyper, eager, django_capture_on_commit_callbacks
):
    # when: candidate pairs from imported scores only
    run = _train(project, staff, small_hyper, django_capture_on_commit_callbacks)
    # then: it learned (well above chance) and left a curve and an artifact
    assert run.hyperparameters["trainer"] == "item"
    # a head that learned nothing gets each held-out pair right with probability 1/2
    assert run.metrics["eval_accuracy"] > max(0.85, chance_bound(run.metrics["eval_pairs"]))
    assert run.data_summary["pairs_by_source"]["import"] > 100
    steps = list(run.steps.values_list("step", flat=True))
    assert steps[-1] == 120 and steps == sorted(set(steps))
    assert any(v is not None for v in run.steps.values_list("val_accuracy", flat=True))
    assert run.artifact_path and not run.in_progress
    assert len(run.data_fingerprint) == 64
    assert run_artifact(run).recipe["unit"] == "turn"


def test_item_recipe_learns_from_item_ratings(
    rated_project, staff, small_hyper, eager, django_capture_on_commit_callbacks
):
    # given: plain items rated by noisy annotators, candidate items with imported scores
    hyper = {**small_hyper, "epochs": 15}
    # when
    run = _train(rated_project, staff, hyper, django_capture_on_commit_callbacks)
    # then: held-out items are ordered as their ratings say, beside the annotators' agreement
    metrics = run.metrics
    sources = metrics["train_pairs_by_source"]
    assert sources["rating-difference (items)"] > 500 and sources["import"] > 100
    item_bound = chance_bound(metrics["eval_item_pairs"])
    assert metrics["eval_item_pair_accuracy"] > max(0.8, item_bound)
    candidate_bound = chance_bound(metrics["eval_candidate_pairs"])
    assert metrics["eval_candidate_pair_accuracy"] > max(0.85, candidate_bound)
    assert metrics["eval_spearman_by_criterion"]["helpfulness"] > 0.5
    # the read-outs every recipe reports: held-out pairs a step apart, ordered by the reward
    helpful = metrics["eval_accuracy_by_criterion"]["helpfulness"]
    # (pairs share items, so no binomial bound; 0.8 is far from the 0.5 of an unlearned head)
    assert helpful["pairs"] > 100 and helpful["accuracy"] > 0.8
    assert 0.5 < run.human_agreement["agreement"] <= 1.0
    # like for like: each of the three annotators' held-out pairs, the model beside the others
    versus = metrics["eval_vs_annotators"]
    assert versus["annotators_compared"] == 3 and versus["pairs"] > 1000
    assert versus["peer_comparisons"] == 2 * versus["pairs"]  # every pair, by both others
    # a model that learned good from bad orders them about as an annotator does (one that
    # learned nothing is a coin: 0.5)
    assert versus["model"] > 0.6 and versus["model"] > versus["annotators"] - 0.05
    assert run.criteria == ["faithfulness", "hallucination", "answerability", "helpfulness",
                            "clarity", "detail"]  # fmt: skip
    artifact = run_artifact(run)
    assert artifact.recipe["unit"] == "turn" and artifact.recipe["turns"] == "min"
    assert artifact.head.config.criteria == tuple(run.criteria)


def test_same_seed_reproduces_the_run(
    project, staff, small_hyper, eager, django_capture_on_commit_callbacks
):
    runs = []
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            runs.append(
                reward_model_run_start(project=project, user=staff, hyperparameters=small_hyper)
            )
    first, second = (RewardModelRun.objects.get(pk=r.pk) for r in runs)
    assert first.data_fingerprint == second.data_fingerprint
    assert first.metrics == second.metrics


def test_second_run_while_one_is_in_progress_is_409(project, staff, client):
    client = _client(staff)
    url = f"/api/v1/projects/{project.pk}/reward-models/"
    first = client.post(url, {"hyperparameters": {"epochs": 1}}, content_type="application/json")
    assert first.status_code == 202, first.json()
    second = client.post(url, {}, content_type="application/json")
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "training_in_progress"
    assert second.json()["error"]["details"]["run_id"] == first.json()["id"]


@pytest.mark.parametrize(
    ("hyper", "field"),
    [
        ({"lr": -1}, "lr"),
        ({"epochs": 0}, "epochs"),
        ({"batch_size": "big"}, "batch_size"),
        ({"eval_fraction": 0.95}, "eval_fraction"),
        ({"warmup": 3}, "warmup"),
        ({"trainer": "deep"}, "trainer"),
        ({"max_steps": 10}, "max_steps"),
    ],
)
def test_bad_hyperparameters_are_400_with_the_field(project, staff, hyper, field):
    response = _client(staff).post(
        f"/api/v1/projects/{project.pk}/reward-models/",
        {"hyperparameters": hyper},
        content_type="application/json",
    )
    assert response.status_code == 400
    body = response.json()["error"]
    assert body["code"] == "validation_error"
    assert field in body["message"]
    assert not RewardModelRun.objects.exists()


def test_hyperparameters_clean_fills_defaults() -> None:
    clean = hyperparameters_clean({"seed": 3})
    assert clean["seed"] == 3 and clean["epochs"] == 60 and clean["patience"] == 15
    with pytest.raises(DomainError):
        hyperparameters_clean({"hidden": 2.5})


def test_the_recipe_parameters_are_the_library_config_fields() -> None:
    from curation.api.reward_models import HyperparametersSerializer
    from curation.services.item_recipe import item_train_config
    from rewardmodel.configs import ItemPairsConfig, ItemTrainConfig, item_recipe_schema

    item = hyperparameters_clean({})
    assert item["trainer"] == "item" and item["text_encoder"] == "grounded-turn-text"
    assert item["image_encoder"] == "grounded-image-colour"
    # the default encoders carry colour-term columns, and the head compares them
    assert item_train_config(item).colour_grounding
    plain = hyperparameters_clean(
        {"text_encoder": "default-turn-text", "image_encoder": "default-image-colour"}
    )
    assert not item_train_config(plain).colour_grounding
    assert not item_train_config({**item, "image_encoder": ""}).colour_grounding
    # the product's defaults are the library's, and every parameter is a library field
    library = {**vars(ItemTrainConfig()), **vars(ItemPairsConfig())}
    parameters = set(item) - {"trainer", "text_encoder", "image_encoder"}
    assert parameters == set(item_recipe_schema())
    assert all(item[name] == library[name] for name in parameters)
    # the API's request serializer is built from the same schema, bounds included
    fields = HyperparametersSerializer().fields
    assert fields["hidden"].min_value == 4 and fields["eval_fraction"].max_value == 0.9
    assert parameters <= set(fields)
    with pytest.raises(DomainError, match="trainer: .*'pairs' recipe is retired"):
        hyperparameters_clean({"trainer": "pairs"})
    with pytest.raises(DomainError, match="hidden: Must be between 4 and 8192") as caught:
        hyperparameters_clean({"temperature": 0, "hidden": 2})
    assert set(caught.value.details["fields"]) == {"temperature", "hidden"}


def test_a_run_of_the_retired_pairs_recipe_is_refused_with_a_clear_error(project) -> None:
    from core.services.jobs import job_create
    from curation.services.reward_models import reward_model_run_execute

    # given: a run made before recipes existed (no "trainer": the whole-item pair recipe)
    job = job_create(kind=Job.Kind.REWARD_MODEL_TRAIN, params={"project_id": project.pk})
    run = RewardModelRun.objects.create(
        project=project, job=job, hyperparameters={"epochs": 8, "seed": 0}, seed=0
    )
    # when / then: resuming it says why it can't train, and what to do instead
    with pytest.raises(DomainError, match="retired 'pairs' recipe") as caught:
        reward_model_run_execute(run=run)
    assert caught.value.code == "recipe_retired"


def test_list_detail_promote_and_permissions(
    project, staff, small_hyper, eager, django_capture_on_commit_callbacks
):
    from annotation.services.projects import member_set
    from tests.factories import UserFactory

    with django_capture_on_commit_callbacks(execute=True):
        run = reward_model_run_start(project=project, user=staff, hyperparameters=small_hyper)
    client = _client(staff)
    detail = client.get(f"/api/v1/reward-models/{run.pk}/").json()
    assert detail["job"]["status"] == "succeeded"
    assert detail["curve"][-1]["step"] == detail["job"]["result"]["steps"] == 120
    assert "eval_accuracy" in detail["metrics"] and "agreement" in detail["human_agreement"]
    listing = client.get(f"/api/v1/projects/{project.pk}/reward-models/").json()
    assert [r["id"] for r in listing] == [run.pk]

    reviewer, annotator, outsider = UserFactory(), UserFactory(), UserFactory()
    member_set(project=project, user_id=reviewer.pk, role="reviewer")
    member_set(project=project, user_id=annotator.pk, role="annotator")
    promote = f"/api/v1/reward-models/{run.pk}/promote/"
    assert _client(outsider).get(f"/api/v1/reward-models/{run.pk}/").status_code == 404
    assert _client(annotator).get(f"/api/v1/reward-models/{run.pk}/").status_code == 403
    assert _client(reviewer).get(f"/api/v1/reward-models/{run.pk}/").status_code == 200
    assert _client(reviewer).post(promote).status_code == 403
    response = client.post(promote)
    assert response.status_code == 200 and response.json()["is_active"] is True
    assert project.active_reward_model.run_id == run.pk
