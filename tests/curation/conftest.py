from __future__ import annotations

from pathlib import Path

import pytest

from tests.curation.helpers import candidate_corpus, rate_plain_items, tiny_bert


@pytest.fixture(scope="session")
def tiny_text_encoder(tmp_path_factory: pytest.TempPathFactory) -> str:
    return "text:" + str(tiny_bert(Path(tmp_path_factory.mktemp("tiny-bert"))))


@pytest.fixture
def eager(django_capture_on_commit_callbacks):
    """Run tasks in-process, after commit, as a worker would."""
    from webapp.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture
def staff(db):
    from tests.factories import StaffFactory

    return StaffFactory()


@pytest.fixture
def project(db, staff):
    from annotation.services.projects import project_create

    corpus = candidate_corpus("candidates")
    return project_create(name="p", corpora=[corpus], created_by=staff)


@pytest.fixture
def rated_project(db, staff):
    """Candidate items plus 240 plain items rated by three noisy simulated annotators."""
    from annotation.services.projects import project_create

    corpus = candidate_corpus("rated", n_items=120, n_plain=240)
    project = project_create(name="rated", corpora=[corpus], created_by=staff)
    rate_plain_items(project)
    return project


@pytest.fixture
def small_hyper(tiny_text_encoder: str) -> dict:
    """The default (item) recipe, small: turn features from the tiny BERT, no image."""
    return {
        "text_encoder": "turn:" + tiny_text_encoder,
        "image_encoder": "",
        "hidden": 32,
        "dropout": 0.1,
        "epochs": 120,
        "batch_size": 64,
        "lr": 5e-3,
        "eval_fraction": 0.25,
        "eval_every": 20,
        "checkpoint_every": 40,
        "patience": 0,
        "seed": 1,
    }


@pytest.fixture(autouse=True)
def _fresh_cache(settings, tmp_path):
    """Job ids restart in every test database; progress and cancel flags must not leak in."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": str(tmp_path),
        }
    }
    from django.core.cache import cache

    cache.clear()
