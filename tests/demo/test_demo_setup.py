"""First run: demo users, a demo corpus with real images, and demo projects, created once."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command

from annotation.models import Annotation, Project, ProjectItem
from core.models import Job
from corpora.models import Corpus, Item
from demo.setup import DEMO_CORPUS_NAME, DEMO_USERS, demo_corpus_ensure, demo_setup

pytestmark = pytest.mark.django_db


def test_demo_setup_builds_everything_once(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    demo_corpus_ensure(n_items=60)
    result = demo_setup()
    for spec in DEMO_USERS:
        user = authenticate(username=spec.username, password=spec.password)
        assert user is not None and user.is_staff == spec.is_staff
    corpus = Corpus.objects.get(name=DEMO_CORPUS_NAME)
    assert corpus.items.count() == 60
    item = Item.objects.filter(corpus=corpus, image__isnull=False).first()
    assert (Path(settings.MEDIA_ROOT) / item.image.file).stat().st_size > 0
    assert (tmp_path / "demo" / "ground_truth.json").exists(), "kept for the curation reports"
    assert result["project"] is not None
    names = set(Project.objects.values_list("name", flat=True))
    assert {
        "Demo: instruction quality",
        "Demo: safety constitution",
        "Demo: simulated annotators",
    } <= names
    simulated = Project.objects.get(name="Demo: simulated annotators")
    assert Annotation.objects.filter(project=simulated).count() == 60 * 5
    assert simulated.overlap == 5
    assert ProjectItem.objects.filter(project=result["project"]).count() == 60
    # the corpus's features are queued for the background, once
    featurize = Job.objects.filter(kind=Job.Kind.CORPUS_FEATURIZE)
    assert [j.params["corpus_id"] for j in featurize] == [corpus.pk]
    assert result["features_job"].status == Job.Status.QUEUED
    # a second run changes nothing
    assert demo_setup()["features_job"] is None and featurize.count() == 1
    assert Corpus.objects.count() == 1 and Project.objects.count() == 3
    assert Annotation.objects.count() == 60 * 5
    assert Item.objects.count() == 60


def test_demo_setup_command_sizes_the_demo(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    with pytest.raises(CommandError, match="at least"):
        call_command("demo_setup", items=3, stdout=io.StringIO())
    assert not Corpus.objects.exists(), "a refused size builds nothing"
    out = io.StringIO()
    call_command("demo_setup", items=24, stdout=out)
    corpus = Corpus.objects.get(name=DEMO_CORPUS_NAME)
    assert corpus.items.count() == 24
    simulated = Project.objects.get(name="Demo: simulated annotators")
    assert Annotation.objects.filter(project=simulated).count() == 24 * 5
    assert "24 items" in out.getvalue()
    # an existing demo corpus is kept as it is
    call_command("demo_setup", items=40, stdout=io.StringIO())
    assert corpus.items.count() == 24
