"""The VLM recipe in the product: validated like the other recipes, trained as a run (here on
a tiny text-only causal LM through the same code as a VLM), scoring a corpus, and refusing a
backbone whose weights changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import DomainError
from core.models import Job
from curation.models import ItemScore
from curation.services.model_cache import run_artifact
from curation.services.reward_models import hyperparameters_clean, reward_model_run_start
from curation.services.scoring import scoring_start
from tests.curation.helpers import VOCAB
from tests.tiny_vlms import tiny_llama

pytestmark = [pytest.mark.django_db]


@pytest.fixture(scope="module")
def backbone(tmp_path_factory) -> str:
    words = [w for w in VOCAB if not w.startswith("[")]
    return str(tiny_llama(tmp_path_factory.mktemp("tiny-llama"), words=words))


def test_the_recipe_is_validated_by_its_typed_schema(backbone):
    clean = hyperparameters_clean({"trainer": "vlm", "backbone": backbone, "lora_r": 8})
    assert clean["trainer"] == "vlm" and clean["backbone"] == backbone
    assert clean["lora_r"] == 8 and clean["micro_batch_size"] == 4  # the default
    with pytest.raises(DomainError) as missing:
        hyperparameters_clean({"trainer": "vlm"})
    assert "backbone" in missing.value.details["fields"]
    with pytest.raises(DomainError) as bad:
        hyperparameters_clean({"trainer": "vlm", "backbone": backbone, "lora_r": 0,
                               "hidden": 32, "train_projector": "yes"})  # fmt: skip
    fields = bad.value.details["fields"]
    assert {"lora_r", "hidden", "train_projector"} <= set(fields)


@pytest.mark.integration  # trains and scores: CPU-heavy for the unit suite
def test_a_vlm_run_trains_scores_and_refuses_another_backbone(
    rated_project, staff, backbone, eager, django_capture_on_commit_callbacks, tmp_path
):
    hyper = {"trainer": "vlm", "backbone": backbone, "steps": 6, "batch_size": 4,
             "micro_batch_size": 4, "lora_r": 4, "lr": 1e-2, "eval_every": 3,
             "checkpoint_every": 3, "max_length": 64, "gradient_checkpointing": False}  # fmt: skip
    # when: a run trains
    with django_capture_on_commit_callbacks(execute=True):
        run = reward_model_run_start(project=rated_project, user=staff, hyperparameters=hyper)
    run.refresh_from_db()
    job = Job.objects.get(pk=run.job_id)
    assert job.status == Job.Status.SUCCEEDED, job.error
    # then: its artifact names the backbone and its revision, with a curve and metrics
    recipe = run_artifact(run).recipe
    assert recipe["trainer"] == "vlm" and recipe["backbone"] == backbone
    assert recipe["backbone_revision"].startswith("sha256:")
    assert run.metrics["eval_item_pairs"] > 0 and 0 <= run.metrics["eval_accuracy"] <= 1
    assert list(run.steps.values_list("step", flat=True)) == [3, 6]
    # every item fits in 64 tokens: none is reported cut
    assert run.metrics["max_length"] == 64 and run.metrics["items_over_max_length"] == 0
    # when: it scores its corpus (every item and every candidate)
    corpus = rated_project.corpora.first()
    with django_capture_on_commit_callbacks(execute=True):
        scoring = scoring_start(run=run, corpus=corpus, shard_size=200)
    assert Job.objects.get(pk=scoring.job_id).status == Job.Status.SUCCEEDED
    scores = ItemScore.objects.filter(run=run)
    assert scores.count() == corpus.items.count()
    with_candidates = scores.filter(item__has_candidates=True).first()
    assert with_candidates.best_candidates.keys() == {"1"}
    # when: the backbone's weights change under the same path, scoring refuses
    from curation.services import vlm_recipe

    vlm_recipe._scorer.cache_clear()
    tiny_llama(Path(backbone), seed=7,
               words=[w for w in VOCAB if not w.startswith("[")])  # fmt: skip
    with pytest.raises(DomainError) as refused:
        vlm_recipe.vlm_items_score(run_artifact(run).path, list(corpus.items.all()[:2]))
    assert refused.value.code == "backbone_mismatch"
    vlm_recipe._scorer.cache_clear()


@pytest.mark.integration
def test_a_run_trains_data_parallel_in_two_processes(
    rated_project, staff, backbone, eager, django_capture_on_commit_callbacks, settings
):
    # given: a worker configured for two processes (gloo on CPU here, a GPU each in production)
    settings.ARBITER_VLM_PROCESSES = 2
    hyper = {"trainer": "vlm", "backbone": backbone, "steps": 4, "batch_size": 4,
             "micro_batch_size": 2, "lora_r": 4, "lr": 1e-2, "eval_every": 2,
             "checkpoint_every": 2, "max_length": 64, "gradient_checkpointing": False}  # fmt: skip
    # when
    with django_capture_on_commit_callbacks(execute=True):
        run = reward_model_run_start(project=rated_project, user=staff, hyperparameters=hyper)
    run.refresh_from_db()
    # then: progress came back through the launcher, and the model scores
    job = Job.objects.get(pk=run.job_id)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert list(run.steps.values_list("step", flat=True)) == [2, 4]
    assert run_artifact(run).recipe["trainer"] == "vlm"
    from curation.services import vlm_recipe

    vlm_recipe._scorer.cache_clear()
    items = list(rated_project.corpora.first().items.all()[:3])
    scores = vlm_recipe.vlm_items_score(run_artifact(run).path, items)
    assert len(scores) == 3 and all(isinstance(s["overall"], float) for s in scores)
    vlm_recipe._scorer.cache_clear()


def test_the_runs_page_says_what_each_recipe_is_for_and_where_it_runs(project, staff, settings):
    from django.test import Client
    from django.urls import reverse

    client = Client()
    client.force_login(staff)
    url = reverse("reward-model-runs", args=[project.pk])
    settings.ARBITER_GPU_QUEUE = False
    page = client.get(url).content.decode()
    assert 'value="vlm"' in page and 'value="item"' in page
    assert "no GPU queue" in page and "steps/s" in page and "not measured yet" in page
    settings.ARBITER_GPU_QUEUE = True
    assert "Runs on the GPU workers" in client.get(url).content.decode()


@pytest.mark.integration  # trains a tiny LLaVA
def test_a_vlm_run_reports_held_out_accuracy_per_criterion_and_rule_beside_agreement(
    staff, eager, django_capture_on_commit_callbacks, tmp_path
):
    from rest_framework.test import APIClient

    from annotation.models import Annotation
    from curation.services import vlm_recipe
    from curation.services.recipes import in_eval
    from tests.curation.colour_world import colour_project
    from tests.tiny_vlms import tiny_llava

    # given: rated colour images with one safety rule, and a tiny random LLaVA by path
    project = colour_project("vlm-readouts", n_items=32, owner=staff)
    backbone = str(tiny_llava(tmp_path / "tiny-llava"))
    hyper = {"trainer": "vlm", "backbone": backbone, "steps": 4, "batch_size": 4,
             "micro_batch_size": 4, "lora_r": 4, "lr": 1e-2, "eval_every": 2,
             "checkpoint_every": 2, "eval_fraction": 0.4, "max_length": 64,
             "gradient_checkpointing": False, "seed": 2}  # fmt: skip
    # when
    with django_capture_on_commit_callbacks(execute=True):
        run = reward_model_run_start(project=project, user=staff, hyperparameters=hyper)
    run.refresh_from_db()
    assert Job.objects.get(pk=run.job_id).status == Job.Status.SUCCEEDED
    # then: per criterion and per rule, on the held-out items, as the head recipe reports
    by_criterion = run.metrics["eval_accuracy_by_criterion"]
    assert {"faithfulness", "helpfulness", "clarity"} <= set(by_criterion)
    assert "answerability" not in by_criterion  # every item answerable: nothing to order
    rule = run.metrics["eval_accuracy_by_rule"]["no-red"]
    assert run.human_agreement["agreement_by_rule"]["no-red"] > 0.5
    assert set(run.human_agreement["agreement_by_criterion"]) >= set(by_criterion)
    # the rule's pairs are (complying, violating) held-out items by the annotators' majority
    held = [i for i in project.corpora.get().items.all() if in_eval(str(i.pk), 0.4, 2)]
    red = {i.pk: sum(a.answers["safety"]["no-red"]["verdict"] == "violates"
                     for a in Annotation.objects.filter(item_id=i.pk)) >= 2
           for i in held}  # fmt: skip
    assert rule["pairs"] == sum(red.values()) * (len(red) - sum(red.values())) > 0
    # and its accuracy is what the saved model's own scores of those items give
    vlm_recipe._scorer.cache_clear()
    scores = vlm_recipe.vlm_items_score(run_artifact(run).path, held)
    violating = [s["overall"] for i, s in zip(held, scores, strict=True) if red[i.pk]]
    complying = [s["overall"] for i, s in zip(held, scores, strict=True) if not red[i.pk]]
    right = sum((c > v) + 0.5 * (c == v) for c in complying for v in violating)
    assert rule["accuracy"] == pytest.approx(right / rule["pairs"], abs=1e-4)
    vlm_recipe._scorer.cache_clear()
    # the API lists them beside the annotators' agreement
    api = APIClient()
    api.force_authenticate(staff)
    rows = {(r["kind"], r["name"]): r for r in api.get(f"/api/v1/reward-models/{run.pk}/")
            .json()["readouts"]}  # fmt: skip
    assert rows[("rule", "no-red")]["accuracy"] == rule["accuracy"]
    agreement = run.human_agreement["agreement_by_rule"]["no-red"]
    assert rows[("rule", "no-red")]["agreement"] == agreement
    assert rows[("criterion", "helpfulness")]["pairs"] == by_criterion["helpfulness"]["pairs"]
    assert rows[("overall", "overall")]["accuracy"] == run.metrics["eval_accuracy"]
