"""A small world for access tests: one project with items, a run, two dataset versions, an
export and a job, plus one user per role; and the URLconf walked to list every route."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver

from annotation.services.projects import member_set, project_create
from core.models import ApiToken, Job, WebhookEndpoint
from core.services.tokens import token_create
from curation.models import DatasetVersion, Export, RewardModelRun, ScoringRun
from rewrites.models import RewriteRun, RewriteTurn
from tests.factories import CorpusFactory, ItemFactory, StaffFactory, UserFactory

ROLES = ["anonymous", "stranger", "annotator", "reviewer", "owner", "staff"]
HANDLERS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Route:
    path: str  # the full route, e.g. "api/v1/projects/<int:project_id>/"
    name: str | None
    callback: Any

    @property
    def view_class(self) -> type | None:
        return getattr(self.callback, "cls", None) or getattr(self.callback, "view_class", None)

    def methods(self) -> list[str]:
        cls = self.view_class
        return [m for m in HANDLERS if cls is not None and hasattr(cls, m)]

    def url(self, **values: int) -> str:
        return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m.group(1)]), self.path)


def walk(resolver: URLResolver | None = None, prefix: str = "") -> list[Route]:
    """Every route of the URLconf, included ones too, with its full path."""
    resolver = resolver or get_resolver()
    routes: list[Route] = []
    for pattern in resolver.url_patterns:
        path = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            routes += walk(pattern, path)
        elif isinstance(pattern, URLPattern):
            routes.append(Route(path=path, name=pattern.name, callback=pattern.callback))
    return routes


def api_routes() -> list[Route]:
    return [r for r in walk() if r.path.startswith("api/")]


@dataclass
class World:
    project: Any
    corpus: Any
    items: list
    run: RewardModelRun
    dataset: DatasetVersion
    other_dataset: DatasetVersion
    export: Export
    job: Job
    scoring: ScoringRun
    endpoint: WebhookEndpoint
    member: Any  # an annotator the owner may remove
    outsider: Any  # a user in no project
    token: ApiToken  # the creator's: nobody else may revoke it
    rewrite: RewriteRun | None = None
    rewrite_turn: RewriteTurn | None = None
    judge_run: Any = None  # a safety-judge run of the project (curation.JudgeRun)

    def ids(self, item_id: int | None = None) -> dict[str, int]:
        return {
            "project_id": self.project.pk,
            "item_id": item_id or self.items[0].pk,
            "run_id": self.run.pk,
            "dataset_id": self.dataset.pk,
            "other_id": self.other_dataset.pk,
            "export_id": self.export.pk,
            "job_id": self.job.pk,
            "corpus_id": self.corpus.pk,
            "scoring_id": self.scoring.pk,
            "endpoint_id": self.endpoint.pk,
            "token_id": self.token.pk,
            "rewrite_id": self.rewrite.pk if self.rewrite else 0,
            "turn_id": self.rewrite_turn.pk if self.rewrite_turn else 0,
            "user_id": self.outsider.pk,
            "judge_run_id": self.judge_run.pk if self.judge_run is not None else 0,
        }


def build_world() -> World:
    creator = StaffFactory(username="creator")
    corpus = CorpusFactory()
    items = ItemFactory.create_batch(2, corpus=corpus)
    project = project_create(name="p", corpora=[corpus], created_by=creator, overlap=3)
    member = UserFactory(username="member")
    member_set(project=project, user_id=member.pk, role="annotator")
    run = RewardModelRun.objects.create(
        project=project,
        job=Job.objects.create(kind=Job.Kind.REWARD_MODEL_TRAIN, status=Job.Status.FAILED),
        hyperparameters={},
        text_encoder="hash",
        in_progress=False,
    )
    dataset, other = (
        DatasetVersion.objects.create(project=project, number=n, policy=[]) for n in (1, 2)
    )
    export = Export.objects.create(
        dataset=dataset,
        job=Job.objects.create(kind=Job.Kind.DATASET_EXPORT),
        format=Export.Format.JSONL,
    )
    job = Job.objects.create(
        kind=Job.Kind.CORPUS_IMPORT, status=Job.Status.SUCCEEDED, created_by=creator
    )
    scoring = ScoringRun.objects.create(
        run=run,
        corpus=corpus,
        job=Job.objects.create(kind=Job.Kind.CORPUS_SCORE, status=Job.Status.SUCCEEDED),
        shard_size=100,
    )
    rewrite = RewriteRun.objects.create(
        source=dataset,
        job=Job.objects.create(kind=Job.Kind.DATASET_REWRITE, status=Job.Status.SUCCEEDED),
        llm="llm",
        prompt_version="v1",
        settings={},
        guards={},
        shard_size=10,
    )
    rewrite_turn = RewriteTurn.objects.create(
        run=rewrite, item=items[0], turn=0, field="answer", original="a", rewrite="b",
        kept="original", reason="review:tie",
    )  # fmt: skip
    return World(
        rewrite=rewrite,
        rewrite_turn=rewrite_turn,
        project=project,
        corpus=corpus,
        items=items,
        run=run,
        dataset=dataset,
        other_dataset=other,
        export=export,
        job=job,
        scoring=scoring,
        endpoint=WebhookEndpoint.objects.create(url="https://hooks.example.org/", secret="s"),
        member=member,
        outsider=UserFactory(username="outsider"),
        token=token_create(user=creator)[0],
        judge_run=_judge_run(project),
    )


def _judge_run(project):
    from annotation.models import Constitution
    from curation.models import JudgeRun

    constitution = Constitution.objects.create(project=project, version=1)
    return JudgeRun.objects.create(
        project=project,
        constitution=constitution,
        job=Job.objects.create(kind=Job.Kind.SAFETY_JUDGE, status=Job.Status.SUCCEEDED),
        config={"vlm": "none", "thresholds": {}},
    )


def user_for(world: World, role: str):
    """A user holding `role` in the world's project (None for anonymous)."""
    if role == "anonymous":
        return None
    if role == "staff":
        return StaffFactory(username="admin")
    user = UserFactory(username=role)
    if role != "stranger":
        member_set(project=world.project, user_id=user.pk, role=role)
    return user
