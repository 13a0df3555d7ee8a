"""Migrate a database that holds wave-1 data across the move of models into core and corpora.

Wave 1 is the schema before the restructuring: Job, Corpus, Item, ImageAsset and CorpusImage
lived in the annotation app. The rows are written through the historical models of that state,
then the database is migrated to the latest migrations and read through today's models.
"""

from __future__ import annotations

from django.db import connection
from django.db.migrations.executor import MigrationExecutor

# The last migrations before the move, per app that had any (Django's own apps included, so
# that the historical User and ContentType match their tables).
WAVE1 = [
    ("auth", "0012_alter_user_first_name_max_length"),
    ("contenttypes", "0002_remove_content_type_name"),
    ("annotation", "0003_projectitem_responses"),
    ("curation", "0001_initial"),
    ("workers", "0001_initial"),
]
# The apps that the move created did not exist in wave 1.
NEW_APPS = [("core", None), ("corpora", None)]


def _migrate(targets: list[tuple[str, str | None]]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def _latest() -> list[tuple[str, str]]:
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def _write_wave1_rows(apps) -> dict[str, int]:  # historical app registry
    user = apps.get_model("auth", "User").objects.create(username="wave1")
    Job = apps.get_model("annotation", "Job")
    image = apps.get_model("annotation", "ImageAsset").objects.create(
        sha256="a" * 64, file="images/aa.png", format="PNG", width=4, height=3, size_bytes=99
    )
    corpus = apps.get_model("annotation", "Corpus").objects.create(
        name="wave-1", description="before the move", created_by=user, version=2
    )
    apps.get_model("annotation", "CorpusImage").objects.create(
        corpus=corpus, path="coco/1.png", asset=image
    )
    Item = apps.get_model("annotation", "Item")
    turns = [{"from": "human", "value": "<image>\nWhat is it?"}, {"from": "gpt", "value": "A cat."}]
    with_image = Item.objects.create(
        corpus=corpus,
        external_id="i1",
        image=image,
        image_path="coco/1.png",
        conversations=turns,
        category="photo",
        content_hash="h1",
    )
    Item.objects.create(corpus=corpus, external_id="i2", conversations=turns, content_hash="h2")
    project = apps.get_model("annotation", "Project").objects.create(name="p1", created_by=user)
    project.corpora.add(corpus)
    apps.get_model("annotation", "ProjectMembership").objects.create(
        project=project, user=user, role="owner"
    )
    project_item = apps.get_model("annotation", "ProjectItem").objects.create(
        project=project, item=with_image, open_slots=0, done_count=1
    )
    annotation = apps.get_model("annotation", "Annotation").objects.create(
        project=project, project_item=project_item, item=with_image, user=user, answers={"q": 4}
    )
    apps.get_model("annotation", "Suggestion").objects.create(
        item=with_image, question_key="q", value=3, model_version="rm-1"
    )
    train_job = Job.objects.create(
        kind="reward_model_train", status="succeeded", params={"seed": 0}, created_by=user
    )
    run = apps.get_model("curation", "RewardModelRun").objects.create(
        project=project, job=train_job, hyperparameters={"epochs": 1}, text_encoder="t"
    )
    score_job = Job.objects.create(kind="corpus_score", status="queued")
    apps.get_model("curation", "ScoringRun").objects.create(
        run=run, corpus=corpus, job=score_job, shard_size=10
    )
    apps.get_model("curation", "ItemScore").objects.create(run=run, item=with_image, overall=0.5)
    ContentType = apps.get_model("contenttypes", "ContentType")
    corpus_type, _ = ContentType.objects.get_or_create(app_label="annotation", model="corpus")
    job_type, _ = ContentType.objects.get_or_create(app_label="annotation", model="job")
    return {
        "corpus_type": corpus_type.pk,
        "job_type": job_type.pk,
        "user": user.pk,
        "image": image.pk,
        "corpus": corpus.pk,
        "item": with_image.pk,
        "project": project.pk,
        "annotation": annotation.pk,
        "train_job": train_job.pk,
        "score_job": score_job.pk,
        "run": run.pk,
    }


def assert_wave1_data_survives_the_move() -> None:
    """Migrate back to wave 1, write rows, migrate forward, read them through the new models."""
    latest = _latest()
    try:
        # given: a database at wave 1, holding data
        _migrate(WAVE1 + NEW_APPS)
        old_apps = MigrationExecutor(connection).loader.project_state(WAVE1).apps
        ids = _write_wave1_rows(old_apps)
        # when
        _migrate(latest)
    finally:
        _migrate(latest)  # leave the test database as every other test expects it

    # then: every row is there, reached through the models of core and corpora
    from annotation.models import Annotation, Project, ProjectItem
    from core.models import Job
    from corpora.models import Corpus, CorpusImage, ImageAsset, Item
    from curation.models import ItemScore, RewardModelRun, ScoringRun

    corpus = Corpus.objects.get(pk=ids["corpus"])
    assert (corpus.name, corpus.version, corpus.created_by.username) == ("wave-1", 2, "wave1")
    items = list(corpus.items.order_by("external_id"))
    assert [item.external_id for item in items] == ["i1", "i2"]
    assert items[0].image == ImageAsset.objects.get(pk=ids["image"])
    assert items[0].conversations[1]["value"] == "A cat." and items[1].image is None
    assert CorpusImage.objects.get(corpus=corpus).asset_id == ids["image"]

    project = Project.objects.get(pk=ids["project"])
    assert list(project.corpora.all()) == [corpus]
    assert list(corpus.projects.all()) == [project]
    assert ProjectItem.objects.get(project=project).item == items[0]
    annotation = Annotation.objects.select_related("item", "project_item__item").get(
        pk=ids["annotation"]
    )
    assert annotation.item == items[0] and annotation.project_item.item == items[0]
    assert list(items[0].suggestions.values_list("value", flat=True)) == [3]

    run = RewardModelRun.objects.select_related("job").get(pk=ids["run"])
    assert run.job == Job.objects.get(pk=ids["train_job"])
    assert (run.job.kind, run.job.status, run.job.params) == (
        "reward_model_train",
        "succeeded",
        {"seed": 0},
    )
    scoring = ScoringRun.objects.get(run=run)
    assert (scoring.corpus, scoring.job_id) == (corpus, ids["score_job"])
    assert ItemScore.objects.get(run=run).item == items[0]

    # permissions and admin history stay attached: the content types moved with the models
    from django.contrib.contenttypes.models import ContentType

    assert ContentType.objects.get_for_model(Corpus).pk == ids["corpus_type"]
    assert ContentType.objects.get_for_model(Job).pk == ids["job_type"]

    # and new rows go into the same tables, after the old ones
    new_item = Item.objects.create(corpus=corpus, external_id="i3", conversations=[])
    assert new_item.pk > items[0].pk and corpus.items.count() == 3
    assert Job.objects.create(kind="corpus_import").pk > ids["score_job"]
