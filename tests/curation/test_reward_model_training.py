"""Training runs end to end in-process: pairs from imported scores -> features -> head."""

from __future__ import annotations

import pytest
from django.test import Client

from annotation.models import Job
from curation.models import RewardModelRun
from curation.services.errors import CurationError
from curation.services.reward_models import hyperparameters_clean, reward_model_run_start

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def _client(user) -> Client:  # noqa: ANN001
    client = Client()
    client.force_login(user)
    return client


def test_training_learns_and_records_curve(
    project, staff, small_hyper, eager, django_capture_on_commit_callbacks
):  # noqa: ANN001
    # when
    with django_capture_on_commit_callbacks(execute=True):
        run = reward_model_run_start(project=project, user=staff, hyperparameters=small_hyper)
    run.refresh_from_db()
    job = Job.objects.get(pk=run.job_id)
    # then: the job succeeded, learned (well above chance) and left a curve and an artifact
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert run.metrics["eval_accuracy"] > 0.85
    assert run.metrics["eval_pairs"] > 20
    assert run.data_summary["pairs_by_source"]["import"] > 100
    steps = list(run.steps.values_list("step", flat=True))
    assert steps[-1] == 120 and steps == sorted(set(steps))
    assert any(v is not None for v in run.steps.values_list("val_accuracy", flat=True))
    assert run.artifact_path and not run.in_progress
    assert len(run.data_fingerprint) == 64


def test_same_seed_reproduces_the_run(
    project, staff, small_hyper, eager, django_capture_on_commit_callbacks
):  # noqa: ANN001
    runs = []
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            runs.append(
                reward_model_run_start(project=project, user=staff, hyperparameters=small_hyper)
            )
    first, second = (RewardModelRun.objects.get(pk=r.pk) for r in runs)
    assert first.data_fingerprint == second.data_fingerprint
    assert first.metrics == second.metrics


def test_second_run_while_one_is_in_progress_is_409(project, staff, client):  # noqa: ANN001
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
    ],
)
def test_bad_hyperparameters_are_400_with_the_field(project, staff, hyper, field):  # noqa: ANN001
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
    assert clean["seed"] == 3 and clean["epochs"] == 8 and clean["text_encoder"] == "default-text"
    with pytest.raises(CurationError):
        hyperparameters_clean({"hidden": 2.5})


def test_list_detail_promote_and_permissions(
    project, staff, small_hyper, eager, django_capture_on_commit_callbacks
):  # noqa: ANN001
    from annotation.services.projects import member_set
    from tests.factories import UserFactory

    with django_capture_on_commit_callbacks(execute=True):
        run = reward_model_run_start(project=project, user=staff, hyperparameters=small_hyper)
    client = _client(staff)
    detail = client.get(f"/api/v1/reward-models/{run.pk}/").json()
    assert detail["job"]["status"] == "succeeded"
    assert detail["curve"][-1]["step"] == 120
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
