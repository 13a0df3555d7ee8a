"""A model scores any corpus its user may read; scores are readable per item; curations select
over a scoring (corpus x model). Scores are written directly here (scoring itself is covered by
tests/curation/test_curation_pipeline.py), so these tests are fast."""

from __future__ import annotations

import pytest

from annotation.models import ProjectItem
from annotation.services.projects import member_set, project_create
from core.models import Job
from curation.models import DatasetVersion, ItemScore, RewardModelRun, ScoringRun
from tests.engine.conftest import client_for
from tests.factories import CorpusFactory, ItemFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    staff = StaffFactory()
    owner = UserFactory(username="owner")
    home = CorpusFactory(name="home")
    ItemFactory.create_batch(3, corpus=home)
    project = project_create(name="p", corpora=[home], created_by=staff)
    member_set(project=project, user_id=owner.pk, role="owner")
    run = RewardModelRun.objects.create(
        project=project,
        job=Job.objects.create(kind=Job.Kind.REWARD_MODEL_TRAIN, status=Job.Status.SUCCEEDED),
        hyperparameters={},
        text_encoder="hash",
        in_progress=False,
        artifact_path="runs/x",
        criteria=["helpfulness"],
        rules=["gore"],
    )
    # a held-out corpus in no project, and one used by another project of the owner
    held_out = CorpusFactory(name="held-out")
    items = [
        ItemFactory(corpus=held_out, category="detail" if i % 2 else "conversation")
        for i in range(20)
    ]
    other = CorpusFactory(name="other")
    ItemFactory.create_batch(2, corpus=other)
    other_project = project_create(name="other", corpora=[other], created_by=staff)
    member_set(project=other_project, user_id=owner.pk, role="annotator")
    return {
        "staff": staff,
        "owner": owner,
        "project": project,
        "run": run,
        "held_out": held_out,
        "items": items,
        "other": other,
    }


def _scored(world) -> ScoringRun:
    """A finished scoring of the held-out corpus: item i scores i / 20."""
    run, corpus = world["run"], world["held_out"]
    scoring = ScoringRun.objects.create(
        run=run,
        corpus=corpus,
        job=Job.objects.create(kind=Job.Kind.CORPUS_SCORE, status=Job.Status.SUCCEEDED),
        corpus_version=corpus.version,
        shard_size=100,
        n_shards=1,
    )
    ItemScore.objects.bulk_create(
        ItemScore(
            run=run,
            item=item,
            overall=i / 20,
            criteria={"helpfulness": round(1 - i / 20, 5)},
            rules={"gore": 0.9 if i == 19 else 0.1},
        )
        for i, item in enumerate(world["items"])
    )
    return scoring


def test_the_owner_scores_a_corpus_they_read_without_changing_any_project(
    world, django_capture_on_commit_callbacks
):
    # given: the owner reads "other" through another project; "held-out" is in no project
    client = client_for(world["owner"])
    url = f"/api/v1/reward-models/{world['run'].pk}/scorings/"
    before = ProjectItem.objects.count()
    # when
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(url, {"corpus_id": world["other"].pk}, format="json")
    # then
    assert response.status_code == 202, response.json()
    assert response.json()["corpus"] == world["other"].pk
    assert ProjectItem.objects.count() == before
    listed = client.get(url).json()
    assert [s["id"] for s in listed] == [response.json()["id"]]


def test_a_corpus_the_caller_may_not_read_is_missing_to_them(
    world, django_capture_on_commit_callbacks
):
    url = f"/api/v1/reward-models/{world['run'].pk}/scorings/"
    body = {"corpus_id": world["held_out"].pk}
    response = client_for(world["owner"]).post(url, body, format="json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    # staff read every corpus: a corpus in no project is scored without joining one
    with django_capture_on_commit_callbacks(execute=False):
        response = client_for(world["staff"]).post(url, body, format="json")
    assert response.status_code == 202
    assert not ProjectItem.objects.filter(item__corpus=world["held_out"]).exists()


def test_a_reviewer_may_not_score(world):
    reviewer = UserFactory(username="reviewer")
    member_set(project=world["project"], user_id=reviewer.pk, role="reviewer")
    url = f"/api/v1/reward-models/{world['run'].pk}/scorings/"
    response = client_for(reviewer).post(url, {"corpus_id": world["other"].pk}, format="json")
    assert response.status_code == 403


def test_the_scoring_list_shows_only_readable_corpora(world):
    _scored(world)
    url = f"/api/v1/reward-models/{world['run'].pk}/scorings/"
    assert client_for(world["owner"]).get(url).json() == []
    assert len(client_for(world["staff"]).get(url).json()) == 1


def test_per_item_scores_page_by_score_and_filter(world):
    scoring = _scored(world)
    client = client_for(world["staff"])
    url = f"/api/v1/scorings/{scoring.pk}/items/"
    # best first, in pages of 7 following `next`, no item twice
    seen, page = [], client.get(url, {"order": "-score", "page_size": 7}).json()
    while True:
        seen += page["results"]
        if not page["next"]:
            break
        page = client.get(page["next"]).json()
    assert [row["score"] for row in seen] == sorted((i / 20 for i in range(20)), reverse=True)
    assert len({row["item_id"] for row in seen}) == 20
    top = seen[0]
    item = world["items"][19]
    assert top == {
        "item_id": item.pk,
        "external_id": item.external_id,
        "category": "detail",
        "score": 0.95,
        "criteria": {"helpfulness": 0.05},
        "rules": {"gore": 0.9},
    }
    # filters: category and score range
    rows = client.get(
        url, {"category": "detail", "min_score": 0.3, "max_score": 0.7, "order": "score"}
    ).json()["results"]
    assert [row["score"] for row in rows] == [0.35, 0.45, 0.55, 0.65]
    assert client.get(url, {"order": "sideways"}).status_code == 400
    assert client.get(url, {"min_score": "high"}).status_code == 400
    # the scoring itself
    detail = client.get(f"/api/v1/scorings/{scoring.pk}/").json()
    assert (detail["run"], detail["corpus"]) == (world["run"].pk, world["held_out"].pk)


def test_scores_of_a_corpus_the_caller_may_not_read_are_missing(world):
    scoring = _scored(world)
    client = client_for(world["owner"])  # owner of the model's project, not a reader
    assert client.get(f"/api/v1/scorings/{scoring.pk}/").status_code == 404
    assert client.get(f"/api/v1/scorings/{scoring.pk}/items/").status_code == 404
    response = client.post(
        f"/api/v1/scorings/{scoring.pk}/curations/", {"policy": "top10"}, format="json"
    )
    assert response.status_code == 404


def test_curation_over_a_scoring_selects_from_the_whole_corpus(world):
    scoring = _scored(world)
    client = client_for(world["staff"])
    url = f"/api/v1/scorings/{scoring.pk}/curations/"
    held_out_ids = {item.pk for item in world["items"]}
    # preview: top 20% of 20 scored items, the model-unsafe best one excluded by the preset
    preview = client.post(url, {"policy": "top10"}, format="json").json()
    assert preview["scoring_id"] == scoring.pk
    assert preview["items_scored"] == preview["items_in_project"] == 20
    assert preview["selected"]["count"] == 2
    baseline = preview["random_baseline"]
    assert len(baseline["item_ids"]) == baseline["count"] == 2
    assert set(baseline["item_ids"]) <= held_out_ids
    # the Align² cascade runs there too (per category, question then answer score)
    cascade = client.post(url, {"policy": "align2llava"}, format="json")
    assert cascade.status_code == 200, cascade.json()
    assert cascade.json()["selected"]["count"] > 0
    assert not DatasetVersion.objects.exists()
    # commit: a version of the model's project that records the scoring
    policy = [{"op": "top_fraction", "score": "overall", "fraction": 0.25}]
    created = client.post(url, {"policy": policy, "commit": True}, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["scoring"], body["project"], body["n_items"]) == (
        scoring.pk,
        world["project"].pk,
        5,
    )
    assert body["corpus_versions"] == {str(world["held_out"].pk): world["held_out"].version}
    dataset = DatasetVersion.objects.get(pk=body["id"])
    chosen = set(dataset.members.values_list("item_id", flat=True))
    assert chosen == {item.pk for item in world["items"][15:]}


def test_the_project_path_still_curates_only_the_project_items(world):
    _scored(world)  # held-out scores must not leak into the project's curation
    response = client_for(world["staff"]).post(
        f"/api/v1/projects/{world['project'].pk}/curations/",
        {"policy": "top10", "model_run_id": world["run"].pk},
        format="json",
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_scored"


def test_a_version_curated_over_a_scoring_is_read_only_by_readers_of_its_corpus(world):
    scoring = _scored(world)
    staff = client_for(world["staff"])
    policy = [{"op": "top_fraction", "score": "overall", "fraction": 0.25}]
    dataset = staff.post(
        f"/api/v1/scorings/{scoring.pk}/curations/",
        {"policy": policy, "commit": True},
        format="json",
    ).json()
    url = f"/api/v1/datasets/{dataset['id']}/"
    assert staff.get(url).status_code == 200
    # the owner of the model's project may not read the held-out corpus: its items stay hidden
    owner = client_for(world["owner"])
    assert owner.get(url).status_code == 404
    response = owner.post(f"{url}exports/", {"format": "jsonl"}, format="json")
    assert response.status_code == 404


def test_a_page_of_scores_costs_a_fixed_number_of_queries(world, django_assert_num_queries):
    scoring = _scored(world)
    reader = UserFactory(username="reader")  # reviewer of the project, reader of the corpus
    member_set(project=world["project"], user_id=reader.pk, role="reviewer")
    world["project"].corpora.add(world["held_out"])
    client = client_for(reader)
    url = f"/api/v1/scorings/{scoring.pk}/items/?page_size=5"
    # the scoring, the caller's role, corpus access, the page: whatever the page size
    with django_assert_num_queries(4):
        assert len(client.get(url).json()["results"]) == 5
    with django_assert_num_queries(4):
        assert len(client.get(url.replace("=5", "=20")).json()["results"]) == 20
