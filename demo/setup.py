"""The demo set-up a first run gets: users, the demo corpus, and a demo project."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from annotation.models import Annotation, Project
from core.models import Job
from corpora.models import Corpus
from corpora.services.corpus_import import corpus_import
from curation.services.featurize import corpus_featurize_start
from demo.annotations import demo_annotations_simulate
from demo.corpus import build_demo_corpus
from demo.projects import SIMULATED_ANNOTATORS, SIMULATED_PROJECT, demo_project_ensure

logger = logging.getLogger(__name__)

DEMO_CORPUS_NAME = "Demo: shapes and photos"
# Items of the demo corpus, every one answered by the simulated annotators: with 6,000 the
# default reward model agrees with an annotator on held-out items as often as another annotator
# does (0.712 vs 0.711 on the run page; 0.618 vs 0.748 at 800 items; docs/benchmarks.md). The
# build takes ~30 s, the background featurisation ~3 minutes on two cores.
DEMO_ITEMS = 6000


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


def _quiet(message: str) -> None:
    logger.info(message)


def demo_corpus_ensure(*, n_items: int = DEMO_ITEMS, say: Callable[[str], None] = _quiet):
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
    say(f"Demo: building the demo corpus ({n_items} items with images) in {out_dir}")
    demo = build_demo_corpus(out_dir, n_items=n_items, seed=0)
    say("Demo: importing the demo corpus")
    corpus_import(corpus=corpus, source=demo.corpus_path, images=demo.images_dir)
    return corpus


def demo_setup(
    *,
    say: Callable[[str], None] = _quiet,
    warm_features: bool = True,
    n_items: int = DEMO_ITEMS,
) -> dict:
    """Users, corpus, projects and simulated answers, each created once; then the corpus's
    features are queued for the background (`warm_features`), so that training the simulated
    project's reward model from the UI right after start-up finds them cached. `n_items` sizes
    the corpus when it is first built (an existing demo corpus is kept as it is)."""
    with transaction.atomic():
        users = demo_users_ensure()
    corpus = demo_corpus_ensure(n_items=n_items, say=say)
    project = demo_project_ensure(corpus=corpus, users=users)
    added = demo_simulated_annotations_ensure()
    if added:
        say(f"Demo: {added} simulated answers in {SIMULATED_PROJECT!r}")
    job = demo_features_warm(corpus=corpus, created_by=users[0]) if warm_features else None
    if job is not None:
        say(
            f"Demo: the corpus's features are computed in the background (job {job.pk}); "
            "a reward model trained from the UI then starts from them"
        )
    return {"users": users, "corpus": corpus, "project": project, "features_job": job}


def demo_features_warm(*, corpus: Corpus, created_by=None) -> Job | None:
    """Queue the demo corpus's featurisation unless a job for it is queued, running or done."""
    earlier = Job.objects.filter(
        kind=Job.Kind.CORPUS_FEATURIZE,
        params__corpus_id=corpus.pk,
        status__in=[Job.Status.QUEUED, Job.Status.RUNNING, Job.Status.SUCCEEDED],
    )
    if earlier.exists():
        return None
    return corpus_featurize_start(corpus=corpus, created_by=created_by)


def demo_simulated_annotations_ensure() -> int:
    """Fill the simulated-annotators project once, from the demo's hidden ground truth."""
    project = Project.objects.filter(name=SIMULATED_PROJECT).first()
    ground_truth = Path(settings.VAR_DIR) / "demo" / "ground_truth.json"
    if project is None or not ground_truth.exists():
        return 0
    if Annotation.objects.filter(project=project).exists():
        return 0
    return demo_annotations_simulate(
        project=project, ground_truth=ground_truth, n_annotators=SIMULATED_ANNOTATORS
    ).annotations
