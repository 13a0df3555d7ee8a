"""Two corpora in one project, with everything that can hang off an item: the one to delete
and one that must come through untouched."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from annotation.models import Annotation, Assignment, Project, ProjectItem
from annotation.services.projects import project_create
from core.models import Job
from corpora.models import Corpus, CorpusImage, ImageAsset, Item
from curation.models import (
    DatasetItem,
    DatasetVersion,
    ItemScore,
    RewardModelRun,
    ScoringRun,
)
from tests.factories import ItemFactory, StaffFactory, UserFactory


@dataclass
class World:
    doomed: Corpus
    kept: Corpus
    project: Project
    shared_image: ImageAsset
    own_image: ImageAsset
    dataset: DatasetVersion


def _image(name: str) -> ImageAsset:
    path = Path(settings.MEDIA_ROOT) / "images" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not really a png")
    return ImageAsset.objects.create(
        sha256=name.ljust(64, "0"),
        file=f"images/{name}",
        format="png",
        width=1,
        height=1,
        size_bytes=16,
    )


def deletion_world(*, n_items: int = 5) -> World:
    staff = StaffFactory()
    doomed, kept = Corpus.objects.create(name="doomed"), Corpus.objects.create(name="kept")
    shared, own = _image("shared"), _image("own")
    # built, then written in a few statements: the PostgreSQL test makes thousands
    Item.objects.bulk_create(
        [ItemFactory.build(corpus=doomed, image=own if i % 2 else shared) for i in range(n_items)]
        + [ItemFactory.build(corpus=kept, image=shared) for _ in range(n_items)],
        batch_size=1000,
    )
    CorpusImage.objects.create(corpus=doomed, path="a/shared.png", asset=shared)
    CorpusImage.objects.create(corpus=doomed, path="a/own.png", asset=own)
    CorpusImage.objects.create(corpus=kept, path="b/shared.png", asset=shared)
    project = project_create(name="p", corpora=[doomed, kept], created_by=staff)
    annotator = UserFactory()
    pitems = list(ProjectItem.objects.filter(project=project))
    Assignment.objects.bulk_create(
        Assignment(project=project, project_item=pitem, user=annotator, status="submitted")
        for pitem in pitems
    )
    Annotation.objects.bulk_create(
        Annotation(
            project=project,
            project_item=pitem,
            item_id=pitem.item_id,
            user=annotator,
            answers={"helpfulness": 3},
        )
        for pitem in pitems
    )
    run = RewardModelRun.objects.create(
        project=project,
        job=Job.objects.create(kind=Job.Kind.REWARD_MODEL_TRAIN, status=Job.Status.SUCCEEDED),
        hyperparameters={},
        text_encoder="hash",
        in_progress=False,
    )
    scoring = ScoringRun.objects.create(
        run=run,
        corpus=doomed,
        job=Job.objects.create(kind=Job.Kind.CORPUS_SCORE, status=Job.Status.SUCCEEDED),
        shard_size=100,
    )
    everything = list(doomed.items.all()) + list(kept.items.all())
    ItemScore.objects.bulk_create(ItemScore(run=run, item=item, overall=0.5) for item in everything)
    dataset = DatasetVersion.objects.create(project=project, number=1, policy=[], scoring=scoring)
    DatasetItem.objects.bulk_create(DatasetItem(dataset=dataset, item=item) for item in everything)
    return World(doomed, kept, project, shared, own, dataset)
