"""Vision-language checkpoints through the product, on items with images.

The head recipe on a frozen VLM's joint features (encoder ``vlm:PATH``): a run trained by the
job layer, the corpus scored by the scoring job, the image read together with the text (the
same answer about another picture scores apart), the scoring service equal to the job on
uploaded pictures, and a curation that compares items. The ``vlm`` recipe on the families whose
processors differ most from LLaVA-1.5's (Qwen2-VL's M-RoPE and image grids, LLaVA-NeXT's anyres
tiles): trained as a run and scoring the corpus."""

from __future__ import annotations

import base64
import io

import pytest

from core.models import Job
from curation.models import ItemScore
from curation.services import reward_models
from curation.services.model_cache import run_artifact
from curation.services.reward_models import reward_model_run_start
from curation.services.scoring import scoring_start
from tests.curation.helpers import VOCAB
from tests.engine.conftest import client_for
from tests.tiny_vlms import COLOURS, colour_image, tiny_llava, tiny_llava_next, tiny_qwen2_vl

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


WORDS = [w for w in VOCAB if not w.startswith("[")]


@pytest.fixture(scope="module")
def vlm_dir(tmp_path_factory) -> str:
    return str(tiny_llava(tmp_path_factory.mktemp("tiny-llava"), words=WORDS))


def _png(colour: str, seed: int) -> bytes:
    buffer = io.BytesIO()
    colour_image(colour, seed=seed).save(buffer, "PNG")
    return buffer.getvalue()


def _with_images(project, settings) -> dict[int, str]:
    """Every item gets a colour picture, stored as an import stores it; item id -> colour."""
    from corpora.models import ImageAsset
    from corpora.pipeline.images import ImageStore
    from corpora.services.corpus_import import image_limits

    store = ImageStore(settings.MEDIA_ROOT, image_limits())
    colours = {}
    for k, item in enumerate(project.corpora.get().items.order_by("pk")):
        colour = COLOURS[k % len(COLOURS)]
        stored = store.store(_png(colour, seed=k))
        item.image, _ = ImageAsset.objects.get_or_create(
            sha256=stored.sha256,
            defaults={"file": stored.file, "format": stored.format, "width": 32, "height": 32,
                      "size_bytes": stored.size_bytes},
        )  # fmt: skip
        item.save(update_fields=["image"])
        colours[item.pk] = colour
    return colours


def test_the_head_recipe_trains_and_scores_on_joint_vlm_features(
    project, staff, vlm_dir, eager, django_capture_on_commit_callbacks, settings, monkeypatch
):
    # given: candidate items, each with a picture
    colours = _with_images(project, settings)
    hyper = {"text_encoder": f"vlm:{vlm_dir}", "image_encoder": "default-image-colour",
             "hidden": 32, "epochs": 30, "batch_size": 64, "lr": 5e-3, "eval_fraction": 0.25,
             "eval_every": 10, "checkpoint_every": 10, "seed": 1}  # fmt: skip
    reports: list[dict] = []  # what the job shows, as it shows it
    real = reward_models.job_progress
    monkeypatch.setattr(
        reward_models, "job_progress", lambda **kw: (reports.append(kw), real(**kw))
    )
    # when: a run trains through the job layer
    with django_capture_on_commit_callbacks(execute=True):
        run = reward_model_run_start(project=project, user=staff, hyperparameters=hyper)
    run.refresh_from_db()
    job = Job.objects.get(pk=run.job_id)
    assert job.status == Job.Status.SUCCEEDED, job.error
    # then: one joint encoder stands for both (the VLM reads the image itself)
    assert run.text_encoder == f"vlm:{vlm_dir}" and run.image_encoder == ""
    artifact = run_artifact(run)
    assert artifact.text_encoder_id.startswith("vlm-joint:") and artifact.image_encoder_id is None
    assert artifact.recipe["unit"] == "turn"
    assert list(run.steps.values_list("step", flat=True))[-1] == 30
    assert 0 <= run.metrics["eval_accuracy"] <= 1
    # the VLM's featurising, the slow part, shows n/N up to every (image, turn) pair
    featurising = [r for r in reports if r["message"].startswith("Featurising ")]
    assert featurising and featurising[0]["current"] == 0, [r["message"] for r in reports]
    assert featurising[-1]["current"] == featurising[-1]["total"] > 0
    # when: the corpus is scored by the scoring job
    corpus = project.corpora.get()
    with django_capture_on_commit_callbacks(execute=True):
        scoring = scoring_start(run=run, corpus=corpus, shard_size=100)
    assert Job.objects.get(pk=scoring.job_id).status == Job.Status.SUCCEEDED
    scores = {s.item_id: s for s in ItemScore.objects.filter(run=run)}
    assert len(scores) == corpus.items.count()
    assert all(s.best_candidates for s in scores.values() if s.item.has_candidates)
    # then: the picture is read with the text: one answer about pictures of other colours
    # scores apart (separate encoders would add the same text feature to each)
    same_text: dict[str, list[float]] = {}
    for item in corpus.items.filter(has_candidates=False).select_related("image"):
        answer = item.conversations[-1]["value"]
        same_text.setdefault(answer, []).append(scores[item.pk].overall)
    spreads = [max(v) - min(v) for v in same_text.values() if len(v) > 1]
    assert spreads and max(spreads) > 1e-4, same_text

    # when: the scoring service gets the same pictures as uploaded bytes
    plain = list(corpus.items.filter(has_candidates=False).order_by("pk")[:8])
    entries = [{"image": {"base64": base64.b64encode(_png(colours[i.pk], seed=k)).decode()},
                "conversations": i.conversations}
               for k, i in enumerate(corpus.items.order_by("pk")) if i in plain]  # fmt: skip
    response = client_for(staff).post(
        f"/api/v1/reward-models/{run.pk}/score/", {"entries": entries}, format="json"
    )
    # then: the rewards the job gave the items
    assert response.status_code == 200, response.json()
    for item, got in zip(plain, response.json()["rewards"], strict=True):
        assert got["reward"] == pytest.approx(scores[item.pk].overall, abs=1e-5)

    # when: a curation compares items by their features (dedup)
    from curation.services.curation import curation_evaluate

    policy = [{"op": "top_fraction", "score": "overall", "fraction": 0.5},
              {"op": "dedup", "threshold": 0.999}]  # fmt: skip
    evaluation = curation_evaluate(project=project, run=run, policy=policy)
    # then: it ran on the joint features
    assert evaluation["steps"][1]["before"] >= evaluation["steps"][1]["after"] > 0


@pytest.mark.integration  # trains and scores a VLM: CPU-heavy for the unit suite
@pytest.mark.parametrize("build", [tiny_qwen2_vl, tiny_llava_next], ids=["qwen2_vl", "llava_next"])
def test_the_vlm_recipe_trains_and_scores_on_each_family(
    rated_project, staff, build, eager, django_capture_on_commit_callbacks, settings, tmp_path
):
    # given: rated items, each with a picture, and a checkpoint of the family
    _with_images(rated_project, settings)
    backbone = str(build(tmp_path / "backbone", words=WORDS))
    hyper = {"trainer": "vlm", "backbone": backbone, "steps": 4, "batch_size": 4,
             "micro_batch_size": 2, "lora_r": 4, "lr": 1e-2, "eval_every": 2,
             "checkpoint_every": 2, "max_length": 96, "gradient_checkpointing": False}  # fmt: skip
    # when: a run trains
    with django_capture_on_commit_callbacks(execute=True):
        run = reward_model_run_start(project=rated_project, user=staff, hyperparameters=hyper)
    run.refresh_from_db()
    job = Job.objects.get(pk=run.job_id)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert run_artifact(run).recipe["backbone"] == backbone
    assert list(run.steps.values_list("step", flat=True)) == [2, 4]
    # when: it scores its corpus
    corpus = rated_project.corpora.get()
    with django_capture_on_commit_callbacks(execute=True):
        scoring = scoring_start(run=run, corpus=corpus, shard_size=200)
    assert Job.objects.get(pk=scoring.job_id).status == Job.Status.SUCCEEDED
    # then: every item, read with its picture (the same answer about other pictures differs)
    scores = {s.item_id: s.overall for s in ItemScore.objects.filter(run=run)}
    assert len(scores) == corpus.items.count()
    same_text: dict[str, set[float]] = {}
    for item in corpus.items.filter(has_candidates=False):
        same_text.setdefault(item.conversations[-1]["value"], set()).add(scores[item.pk])
    assert max(len(v) for v in same_text.values()) > 1
    from curation.services import vlm_recipe

    vlm_recipe._scorer.cache_clear()
