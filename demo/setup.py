"""The demo set-up a first run gets: users, the demo corpus, and a demo project."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from annotation.models import Annotation, Project
from corpora.models import Corpus
from corpora.services.corpus_import import corpus_import
from demo.annotations import demo_annotations_simulate
from demo.corpus import build_demo_corpus
from demo.projects import SIMULATED_PROJECT, demo_project_ensure

logger = logging.getLogger(__name__)

DEMO_CORPUS_NAME = "Demo: shapes and photos"


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    role: str
    is_staff: bool


DEMO_USERS = (
    DemoUser("admin", "arbiter-admin", "staff admin, project owner", True),
    DemoUser("annotator1", "arbiter-annotate", "annotator", False),
    DemoUser("annotator2", "arbiter-annotate", "annotator", False),
)


def demo_users_ensure() -> list:
    User = get_user_model()
    users = []
    for spec in DEMO_USERS:
        user, created = User.objects.get_or_create(username=spec.username)
        if created:
            user.set_password(spec.password)
            user.is_staff = spec.is_staff
            user.is_superuser = spec.is_staff
            user.save()
        users.append(user)
    return users


def demo_corpus_ensure(*, n_items: int = 800):
    """Build the demo corpus from packaged images (not committed) and import it once."""
    corpus, _ = Corpus.objects.get_or_create(
        name=DEMO_CORPUS_NAME,
        defaults={
            "description": "Shapes (easy-vqa) and photos (scikit-image) with injected defects."
        },
    )
    if corpus.items.exists():
        return corpus
    out_dir = Path(settings.VAR_DIR) / "demo"
    demo = build_demo_corpus(out_dir, n_items=n_items, seed=0)
    corpus_import(corpus=corpus, source=demo.corpus_path, images=demo.images_dir)
    return corpus


def demo_setup() -> dict:
    with transaction.atomic():
        users = demo_users_ensure()
    corpus = demo_corpus_ensure()
    project = demo_project_ensure(corpus=corpus, users=users)
    demo_simulated_annotations_ensure()
    return {"users": users, "corpus": corpus, "project": project}


def demo_simulated_annotations_ensure() -> int:
    """Fill the simulated-annotators project once, from the demo's hidden ground truth."""
    project = Project.objects.filter(name=SIMULATED_PROJECT).first()
    ground_truth = Path(settings.VAR_DIR) / "demo" / "ground_truth.json"
    if project is None or not ground_truth.exists():
        return 0
    if Annotation.objects.filter(project=project).exists():
        return 0
    return demo_annotations_simulate(project=project, ground_truth=ground_truth).annotations
