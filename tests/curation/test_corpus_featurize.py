"""Featurising a corpus ahead of training: a job that fills the feature cache, once."""

from __future__ import annotations

import pytest

from core.models import Job
from curation.services.features import encoder_id_of, feature_cache
from curation.services.featurize import corpus_featurize_start
from curation.services.turns import items_turn_specs
from tests.curation.conftest import candidate_corpus

pytestmark = pytest.mark.django_db


def test_the_job_fills_the_cache_for_every_turn(
    staff, eager, tiny_text_encoder, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.ARTIFACTS_ROOT = tmp_path
    corpus = candidate_corpus("warm", n_items=10, n_plain=70)
    text = "turn:" + tiny_text_encoder
    _, things = items_turn_specs(list(corpus.items.select_related("image").order_by("pk")))
    keys = [thing.ref.text_key for thing in things]
    text_id = encoder_id_of(text)
    assert feature_cache().missing(text_id, keys), "nothing is cached before the job"
    # when
    with django_capture_on_commit_callbacks(execute=True):
        job = corpus_featurize_start(
            corpus=corpus, created_by=staff, text_encoder=text, image_encoder=""
        )
    # then every turn of the 80 items is cached, in two chunks with progress
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.result == {"items": 80, "turns": len(things)}
    assert (job.progress_current, job.progress_total) == (80, 80)
    assert feature_cache().missing(text_id, keys) == []
