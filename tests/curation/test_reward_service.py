"""The reward model as a service: rewards computed in the request equal the batch scoring
job's scores for the same items; inputs are bounded and answered in the error shape."""

from __future__ import annotations

import base64

import pytest
from rest_framework.test import APIClient

from core.models import Job
from core.services.tokens import token_create
from curation.models import ItemScore
from curation.services.reward_models import reward_model_run_start
from curation.services.scoring import scoring_start
from tests.engine.conftest import client_for

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture
def trained(project, staff, small_hyper, eager, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = reward_model_run_start(project=project, user=staff, hyperparameters=small_hyper)
    run.refresh_from_db()
    assert run.job.status == Job.Status.SUCCEEDED
    return run


@pytest.fixture
def unfinished(project):
    """A model still training: enough to check the input rules, which come first."""
    from curation.models import RewardModelRun

    return RewardModelRun.objects.create(
        project=project,
        job=Job.objects.create(kind=Job.Kind.REWARD_MODEL_TRAIN, status=Job.Status.RUNNING),
        hyperparameters={},
        text_encoder="hash",
    )


def test_a_model_still_training_is_a_409(unfinished, staff):
    response = client_for(staff).post(
        f"/api/v1/reward-models/{unfinished.pk}/score/",
        {"entries": [{"conversations": [{"from": "gpt", "value": "a"}]}]},
        format="json",
    )
    assert response.status_code == 409, response.json()
    assert response.json()["error"]["code"] == "run_not_ready"


def _batch_scored(project, run, capture):
    """The corpus scored by the batch job (in-process): 40 plain items and their scores."""
    corpus = project.corpora.get()
    with capture(execute=True):
        scoring_start(run=run, corpus=corpus, shard_size=50)
    plain = list(corpus.items.filter(has_candidates=False).order_by("pk")[:40])
    batch = {s.item_id: s for s in ItemScore.objects.filter(run=run, item__in=plain)}
    assert len(batch) == len(plain)
    return plain, batch


def test_rewards_equal_the_batch_scoring_of_the_same_items(
    project, staff, trained, django_capture_on_commit_callbacks
):
    # given
    plain, batch = _batch_scored(project, trained, django_capture_on_commit_callbacks)
    # when: the same conversations go to the endpoint
    response = client_for(staff).post(
        f"/api/v1/reward-models/{trained.pk}/score/",
        {"entries": [{"conversations": item.conversations} for item in plain]},
        format="json",
    )
    # then
    assert response.status_code == 200, response.json()
    rewards = response.json()["rewards"]
    assert len(rewards) == len(plain)
    for item, got in zip(plain, rewards, strict=True):
        expected = batch[item.pk]
        assert abs(got["reward"] - expected.overall) <= 1e-5
        assert got["criteria"].keys() == expected.criteria.keys()
        for name, value in expected.criteria.items():
            assert abs(got["criteria"][name] - value) <= 1e-5
        for name, value in expected.rules.items():
            assert abs(got["rules"][name] - value) <= 1e-5
    assert len({round(r["reward"], 6) for r in rewards}) > 1  # not a constant


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"entries": []}, "entries"),
        ({"entries": [{"conversations": []}]}, "entries"),
        ({"entries": [{"conversations": [{"from": "x", "value": "hi"}]}]}, "entries"),
        ({"entries": [{"conversations": [{"from": "human", "value": "a" * 20_001}]}]}, "entries"),
        (
            {"entries": [{"conversations": [{"from": "human", "value": "hi"}] * 33}]},
            "entries",
        ),
        ({"entries": [{"conversations": [{"from": "human", "value": "hi"}]}] * 65}, "entries"),
        (
            {
                "entries": [
                    {"image": {"base64": "!!"}, "conversations": [{"from": "gpt", "value": "a"}]}
                ]
            },
            "entries",
        ),
    ],
)
def test_unbounded_or_malformed_input_is_a_400_in_the_error_shape(unfinished, staff, body, field):
    response = client_for(staff).post(
        f"/api/v1/reward-models/{unfinished.pk}/score/", body, format="json"
    )
    assert response.status_code == 400, response.json()
    assert response.json()["error"]["code"] == "validation_error"
    assert field in response.json()["error"]["details"]["fields"]


def test_bytes_that_are_not_an_image_are_a_400(trained, staff):
    not_image = base64.b64encode(b"hello, not an image").decode()
    response = client_for(staff).post(
        f"/api/v1/reward-models/{trained.pk}/score/",
        {
            "entries": [
                {"image": {"base64": not_image}, "conversations": [{"from": "gpt", "value": "a"}]}
            ]
        },
        format="json",
    )
    assert response.status_code == 400, response.json()
    assert "not an image" in response.json()["error"]["message"]


def test_openrlhf_queries_score_as_the_batch_job_scores_the_same_conversations(
    project, staff, trained, django_capture_on_commit_callbacks
):
    # given: a reviewer's API token (OpenRLHF-style callers authenticate with a header)
    plain, batch = _batch_scored(project, trained, django_capture_on_commit_callbacks)
    _, secret = token_create(user=staff, name="rl")
    prompts = [item.conversations[0]["value"] for item in plain]
    queries = [p + item.conversations[1]["value"] for p, item in zip(prompts, plain, strict=True)]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    # when: OpenRLHF's request shape
    response = client.post(
        f"/api/v1/reward-models/{trained.pk}/openrlhf/",
        {"query": queries, "prompts": prompts, "labels": [None] * len(queries)},
        format="json",
    )
    # then: {"rewards": [float, ...]}, equal to the batch scores
    assert response.status_code == 200, response.json()
    rewards = response.json()["rewards"]
    assert len(rewards) == len(plain)
    assert all(
        abs(r - batch[item.pk].overall) <= 1e-5 for r, item in zip(rewards, plain, strict=True)
    )
    # and without a token: 401
    anonymous = APIClient().post(
        f"/api/v1/reward-models/{trained.pk}/openrlhf/", {"query": ["x"]}, format="json"
    )
    assert anonymous.status_code == 401


def test_openrlhf_prompts_must_match_queries_one_to_one(unfinished, staff):
    response = client_for(staff).post(
        f"/api/v1/reward-models/{unfinished.pk}/openrlhf/",
        {"query": ["a", "b"], "prompts": ["a"]},
        format="json",
    )
    assert response.status_code == 400, response.json()
    assert "prompts" in response.json()["error"]["details"]["fields"]


def _png(seed: int) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), ((seed * 71) % 256, (seed * 29) % 256, 90)).save(buffer, "PNG")
    return buffer.getvalue()


def test_rewards_with_images_equal_the_batch_scoring_of_the_same_items(
    project, staff, small_hyper, eager, django_capture_on_commit_callbacks, settings
):
    # given: items with images (stored as an import stores them), a model that reads them
    from corpora.models import ImageAsset
    from corpora.pipeline.images import ImageStore
    from corpora.services.corpus_import import image_limits

    store = ImageStore(settings.MEDIA_ROOT, image_limits())
    every = list(project.corpora.get().items.order_by("pk"))
    pictures = {}
    for k, item in enumerate(every):
        data = _png(k % 6)
        stored = store.store(data)
        item.image, _ = ImageAsset.objects.get_or_create(
            sha256=stored.sha256,
            defaults={"file": stored.file, "format": stored.format, "width": 32, "height": 32,
                      "size_bytes": stored.size_bytes},
        )  # fmt: skip
        item.save(update_fields=["image"])
        pictures[item.pk] = data
    with django_capture_on_commit_callbacks(execute=True):
        run = reward_model_run_start(
            project=project,
            user=staff,
            hyperparameters={**small_hyper, "image_encoder": "colour:none"},
        )
    run.refresh_from_db()
    assert run.job.status == Job.Status.SUCCEEDED and run.image_encoder == "colour:none"
    plain, batch = _batch_scored(project, run, django_capture_on_commit_callbacks)
    plain = plain[:24]
    # when: the same images, once as bytes and once by item id
    url = f"/api/v1/reward-models/{run.pk}/score/"
    as_bytes = [
        {
            "image": {"base64": base64.b64encode(pictures[item.pk]).decode()},
            "conversations": item.conversations,
        }
        for item in plain
    ]
    by_id = [{"image": {"item_id": item.pk}, "conversations": item.conversations} for item in plain]
    client = client_for(staff)
    for entries in (as_bytes, by_id):
        response = client.post(url, {"entries": entries}, format="json")
        # then
        assert response.status_code == 200, response.json()
        rewards = [r["reward"] for r in response.json()["rewards"]]
        for item, got in zip(plain, rewards, strict=True):
            assert abs(got - batch[item.pk].overall) <= 1e-5
    # and images never seen before (featurised from the upload itself) score as batch scoring
    # later scores them in a corpus of their own
    from corpora.models import Corpus, Item

    fresh = {k: _png(100 + k) for k in range(4)}
    response = client.post(
        url,
        {
            "entries": [
                {
                    "image": {"base64": base64.b64encode(fresh[k]).decode()},
                    "conversations": plain[k].conversations,
                }
                for k in fresh
            ]
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    second = Corpus.objects.create(name="second", version=1)
    copies = []
    for k, data in fresh.items():
        stored = store.store(data)
        asset = ImageAsset.objects.create(
            sha256=stored.sha256, file=stored.file, format=stored.format, width=32, height=32,
            size_bytes=stored.size_bytes,
        )  # fmt: skip
        copies.append(
            Item.objects.create(
                corpus=second,
                external_id=f"f{k}",
                conversations=plain[k].conversations,
                image=asset,
                content_hash=f"{k + 10**7:064x}",
            )
        )
    with django_capture_on_commit_callbacks(execute=True):
        scoring_start(run=run, corpus=second)
    for copy, got in zip(copies, response.json()["rewards"], strict=True):
        assert abs(got["reward"] - ItemScore.objects.get(run=run, item=copy).overall) <= 1e-5
    # the image matters: the same text with no picture scores differently
    text_only = client.post(
        url, {"entries": [{"conversations": plain[0].conversations}]}, format="json"
    )
    assert abs(text_only.json()["rewards"][0]["reward"] - batch[plain[0].pk].overall) > 1e-6


def test_an_image_url_to_a_private_address_is_refused(trained, staff):
    response = client_for(staff).post(
        f"/api/v1/reward-models/{trained.pk}/score/",
        {
            "entries": [
                {
                    "image": {"url": "http://127.0.0.1:6379/x.png"},
                    "conversations": [{"from": "gpt", "value": "a"}],
                }
            ]
        },
        format="json",
    )
    assert response.status_code == 400, response.json()
    assert response.json()["error"]["code"] == "validation_error"


def test_an_item_of_a_corpus_the_caller_may_not_read_is_no_such_item(trained, project):
    # given: a reviewer of the model's project and an item of a corpus in none of their projects
    from annotation.services.projects import member_set
    from tests.factories import CorpusFactory, ItemFactory, UserFactory

    reviewer = UserFactory()
    member_set(project=project, user_id=reviewer.pk, role="reviewer")
    foreign = ItemFactory(corpus=CorpusFactory(name="foreign"))
    # when
    response = client_for(reviewer).post(
        f"/api/v1/reward-models/{trained.pk}/score/",
        {
            "entries": [
                {"image": {"item_id": foreign.pk}, "conversations": [{"from": "gpt", "value": "a"}]}
            ]
        },
        format="json",
    )
    # then
    assert response.status_code == 400, response.json()
    assert response.json()["error"]["message"] == "entry 0: no such item."


def test_a_body_over_the_upload_limit_is_a_400_in_the_error_shape(unfinished, staff, settings):
    big = base64.b64encode(b"x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)).decode()
    response = client_for(staff).post(
        f"/api/v1/reward-models/{unfinished.pk}/score/",
        {"entries": [{"image": {"base64": big}, "conversations": [{"from": "gpt", "value": "a"}]}]},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "request_too_large"
