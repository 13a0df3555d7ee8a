"""The data browser (corpus, project, dataset version), the item page and the scoring step of
the guided path, on SQLite through their selectors and pages."""

from __future__ import annotations

import pytest
from django.test import Client

from annotation.models import Annotation, ProjectItem
from annotation.services.projects import member_set, project_create
from core.models import Job
from curation.models import (
    ActiveRewardModel,
    DatasetItem,
    DatasetVersion,
    ItemScore,
    RewardModelRun,
    ScoringRun,
)
from curation.selectors.browse import BrowseFilters, items_browse
from curation.selectors.scorings import corpora_scoring_state
from tests.factories import CorpusFactory, ItemFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.django_db


def _conv(text: str) -> list[dict]:
    return [{"from": "human", "value": f"<image>\n{text}"}, {"from": "gpt", "value": "ok"}]


@pytest.fixture
def world():
    staff = StaffFactory()
    corpus = CorpusFactory()
    items = [
        ItemFactory(
            corpus=corpus,
            category="cats" if i % 3 == 0 else "dogs",
            conversations=_conv("a zebra here" if i == 7 else f"question {i}"),
            has_candidates=False,
        )
        for i in range(30)
    ]
    project = project_create(name="browse", corpora=[corpus], created_by=staff, overlap=2)
    ProjectItem.objects.filter(project=project, item__in=items[:5]).update(done_count=2)
    ProjectItem.objects.filter(project=project, item__in=items[5:8]).update(done_count=1)
    ProjectItem.objects.filter(project=project, item=items[0]).update(disagreement=0.5)
    ProjectItem.objects.filter(project=project, item=items[1]).update(
        disagreement=0.5, adjudicated=True
    )
    run = RewardModelRun.objects.create(
        project=project,
        job=Job.objects.create(kind=Job.Kind.REWARD_MODEL_TRAIN, status=Job.Status.SUCCEEDED),
        hyperparameters={},
        text_encoder="hash",
        in_progress=False,
        artifact_path="x",
    )
    ItemScore.objects.bulk_create(
        [ItemScore(run=run, item=item, overall=i / 30) for i, item in enumerate(items)]
    )
    scoring = ScoringRun.objects.create(
        run=run,
        corpus=corpus,
        job=Job.objects.create(kind=Job.Kind.CORPUS_SCORE, status=Job.Status.SUCCEEDED),
        shard_size=100,
    )
    return {"staff": staff, "corpus": corpus, "items": items, "project": project, "run": run,
            "scoring": scoring}  # fmt: skip


def _all(**scope) -> list[int]:
    seen, after = [], None
    while True:
        page = items_browse(**scope, after=after, limit=7)
        seen += [row["pk"] for row in page.rows]
        if page.next_after is None:
            return seen
        after = page.next_after


def test_the_cursor_walks_every_item_once_in_id_order(world):
    ids = sorted(item.pk for item in world["items"])
    assert _all(corpus_id=world["corpus"].pk) == ids
    assert _all(project=world["project"]) == ids
    last = items_browse(corpus_id=world["corpus"].pk, after=ids[-2], limit=7)
    assert [r["pk"] for r in last.rows] == [ids[-1]] and last.next_after is None


def test_filters_text_category_score_state_and_disputes(world):
    items, project, run = world["items"], world["project"], world["run"]

    def pks(**filters) -> set[int]:
        page = items_browse(project=project, filters=BrowseFilters(**filters), limit=100)
        return {row["pk"] for row in page.rows}

    assert pks(q="ZEBRA") == {items[7].pk}  # case-insensitive, in the conversation
    assert pks(q=items[3].external_id) == {items[3].pk}
    assert pks(category="cats") == {i.pk for n, i in enumerate(items) if n % 3 == 0}
    high = pks(score_run_id=run.pk, min_score=0.5, max_score=0.7)
    assert high == {i.pk for n, i in enumerate(items) if 0.5 <= n / 30 <= 0.7}
    assert pks(state="complete") == {i.pk for i in items[:5]}
    assert pks(state="partial") == {i.pk for i in items[5:8]}
    assert len(pks(state="unannotated")) == 22
    # disputed: answered twice, disagreement, not adjudicated (items[1] was adjudicated)
    assert pks(disputed=True) == {items[0].pk}
    row = items_browse(project=project, filters=BrowseFilters(score_run_id=run.pk)).rows[7]
    assert row["score"] == pytest.approx(7 / 30) and row["preview"] == "a zebra here"


def test_a_dataset_version_browses_its_members_only(world):
    dataset = DatasetVersion.objects.create(project=world["project"], number=1, policy=[])
    members = world["items"][10:13]
    DatasetItem.objects.bulk_create([DatasetItem(dataset=dataset, item=i) for i in members])
    assert _all(dataset=dataset) == [i.pk for i in members]


def test_pages_filter_escape_and_link_items(world, client: Client):
    item = world["items"][2]
    item.conversations = _conv("<script>alert(1)</script>")
    item.save()
    client.force_login(world["staff"])
    project = world["project"]
    body = client.get(f"/projects/{project.pk}/items/?category=cats&state=complete").content
    body = body.decode()
    assert f'href="/items/{world["items"][0].pk}/"' in body
    assert f'data-item="{world["items"][1].pk}"' not in body  # a dog
    # a bad number is ignored with a note, never a 500
    response = client.get(
        f"/corpora/{world['corpus'].pk}/items/?scoring={world['scoring'].pk}&min_score=abc"
    )
    assert response.status_code == 200 and "min score must be a number" in response.content.decode()
    page = client.get(f"/items/{item.pk}/").content.decode()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)" in page
    assert f'href="/reward-models/{world["run"].pk}/"' in page  # its score, by model


def test_the_item_page_shows_annotations_only_of_projects_the_user_reviews(world, client):
    item, project = world["items"][0], world["project"]
    annotator, reviewer = UserFactory(username="ann"), UserFactory(username="rev")
    member_set(project=project, user_id=annotator.pk, role="annotator")
    member_set(project=project, user_id=reviewer.pk, role="reviewer")
    Annotation.objects.create(
        project=project,
        project_item=ProjectItem.objects.get(project=project, item=item),
        item=item,
        user=annotator,
        answers={"helpfulness": 4},
    )
    client.force_login(reviewer)
    assert "helpfulness" in client.get(f"/items/{item.pk}/").content.decode()
    client.force_login(annotator)
    body = client.get(f"/items/{item.pk}/").content.decode()
    assert "helpfulness" not in body and "No annotation you may see" in body
    client.force_login(UserFactory())
    assert client.get(f"/items/{item.pk}/").status_code == 404


def test_the_scoring_step_says_which_corpora_the_model_scored(world, client):
    staff, project, run = world["staff"], world["project"], world["run"]
    other = CorpusFactory(name="elsewhere")
    ItemFactory(corpus=other)
    states = corpora_scoring_state(run=run, user=staff, project_corpus_ids=[world["corpus"].pk])
    assert [(s.name, s.in_project, s.state) for s in states] == [
        (world["corpus"].name, True, "scored"),
        ("elsewhere", False, "unscored"),
    ]
    world["corpus"].version += 1  # an import changed the corpus since
    world["corpus"].save()
    states = corpora_scoring_state(run=run, user=staff, project_corpus_ids=[world["corpus"].pk])
    assert states[0].state == "stale"
    # pages: the runs page offers the path for the finished run; curation shows the promoted one
    client.force_login(staff)
    runs_page = client.get(f"/projects/{project.pk}/reward-models/").content.decode()
    assert 'id="path-promote"' in runs_page and 'id="score-selected"' in runs_page
    assert f'data-corpus="{other.pk}" data-state="unscored"' in runs_page
    curation = client.get(f"/projects/{project.pk}/curation/").content.decode()
    assert 'id="no-promoted"' in curation
    ActiveRewardModel.objects.create(project=project, run=run, promoted_by=staff)
    curation = client.get(f"/projects/{project.pk}/curation/").content.decode()
    assert 'id="scoring-panel"' in curation and "score again" in curation
    # a reviewer sees the states but gets no button to start a scoring
    reviewer = UserFactory()
    member_set(project=project, user_id=reviewer.pk, role="reviewer")
    client.force_login(reviewer)
    runs_page = client.get(f"/projects/{project.pk}/reward-models/").content.decode()
    assert 'id="scoring-panel"' in runs_page and 'id="score-selected"' not in runs_page


def test_a_text_search_out_of_time_returns_a_cursor_that_goes_on(world, monkeypatch):
    from curation.selectors import browse

    # given: windows of 4 items and no time at all: each page reads one window
    monkeypatch.setattr(browse, "SEARCH_WINDOW", 4)
    monkeypatch.setattr(browse, "SEARCH_BUDGET_S", 0.0)
    corpus, zebra = world["corpus"].pk, world["items"][7].pk
    filters = BrowseFilters(q="zebra")
    first = items_browse(corpus_id=corpus, filters=filters)
    # then: the first window (items 0-3) has no match; the page says how far it read
    assert first.rows == [] and first.searched_to == world["items"][3].pk
    assert first.next_after == first.searched_to
    second = items_browse(corpus_id=corpus, filters=filters, after=first.next_after)
    assert [r["pk"] for r in second.rows] == [zebra]
    # and: with time enough the whole scope is searched in one call, and the end is the end
    monkeypatch.setattr(browse, "SEARCH_BUDGET_S", 60.0)
    whole = items_browse(corpus_id=corpus, filters=filters)
    assert [r["pk"] for r in whole.rows] == [zebra] and whole.next_after is None
    assert whole.searched_to is None


@pytest.fixture
def flagged(world):
    """A finished judge run (rules no-red, no-triangle) and the annotators' rule verdicts."""
    from annotation.models import Constitution, Rule, Suggestion
    from curation.models import JudgeRun

    items, project = world["items"], world["project"]
    constitution = Constitution.objects.create(project=project, version=1)
    for n, key in enumerate(("no-red", "no-triangle")):
        Rule.objects.create(constitution=constitution, position=n, key=key, text=key, category="x")

    def judge_run(status: str) -> JudgeRun:
        return JudgeRun.objects.create(
            project=project,
            constitution=constitution,
            job=Job.objects.create(kind=Job.Kind.SAFETY_JUDGE, status=status),
            config={"vlm": "v"},
        )

    run, running = judge_run(Job.Status.SUCCEEDED), judge_run(Job.Status.RUNNING)
    verdicts = {(2, "no-red"), (3, "no-triangle"), (4, "no-triangle")}
    Suggestion.objects.bulk_create(
        [
            Suggestion(
                item=items[n],
                question_key="safety",
                rule_key=rule,
                judge_run_id=run.pk,
                value={"verdict": "violates" if (n, rule) in verdicts else "does_not_violate"},
                model_version="m",
                constitution=constitution,
                score=0.9,
            )
            for n in (2, 3, 4, 6)
            for rule in ("no-red", "no-triangle")
        ]
        # an unfinished run's verdict is not read
        + [
            Suggestion(
                item=items[9],
                question_key="safety",
                rule_key="no-red",
                judge_run_id=running.pk,
                value={"verdict": "violates"},
                model_version="m",
            )
        ]
    )
    # the annotators: [verdict per annotator] on rule no-red
    said = {3: ["violates", "violates"], 5: ["violates", "does_not_violate"],
            8: ["violates", "does_not_violate", "does_not_violate"], 12: ["violates"]}  # fmt: skip
    users = [UserFactory() for _ in range(3)]
    for n, labels in said.items():
        for user, label in zip(users, labels, strict=False):
            Annotation.objects.create(
                project=project,
                project_item=ProjectItem.objects.get(project=project, item=items[n]),
                item=items[n],
                user=user,
                answers={"safety": {"no-red": {"verdict": label}}},
            )
    return run


def test_judge_and_annotator_flags_filter_like_curations_flags(world, flagged, monkeypatch):
    from curation.selectors import browse
    from curation.selectors.scores import human_unsafe_items

    items, project = world["items"], world["project"]
    monkeypatch.setattr(browse, "HUMAN_CHUNK", 2)  # the majority is counted over many chunks

    def pks(**filters) -> list[int]:
        seen, after, scope = [], None, filters.pop("scope", {"project": project})
        while True:
            page = items_browse(**scope, filters=BrowseFilters(**filters), after=after, limit=1)
            seen += [row["pk"] for row in page.rows]
            if page.next_after is None:
                return seen
            after = page.next_after

    def at(*ns: int) -> list[int]:
        return [items[n].pk for n in ns]

    run = flagged.pk
    assert pks(judge_run_id=run, judge_rule="") == at(2, 3, 4)
    assert pks(judge_run_id=run, judge_rule="no-red") == at(2)
    assert pks(judge_run_id=run, judge_rule="no-such-rule") == []
    # a tie (5) or a minority (8) for "violates" is no flag; the curation flag agrees
    assert pks(human_flagged=True) == at(3, 12)
    assert set(pks(human_flagged=True)) == human_unsafe_items(project_id=project.pk)
    assert pks(human_flagged=True, judge_run_id=run, judge_rule="") == at(3)
    assert pks(human_flagged=True, q="question 1") == at(12)  # with a text search
    # the corpus scope has no annotators, only the judge
    corpus = {"corpus_id": world["corpus"].pk}
    assert pks(scope=corpus, judge_run_id=run, judge_rule="no-triangle") == at(3, 4)
    # without a rule filter, every row says whether the judge flagged it
    rows = items_browse(project=project, filters=BrowseFilters(judge_run_id=run), limit=5).rows
    assert [row["judge_flagged"] for row in rows] == [False, False, True, True, True]


def test_the_pages_offer_the_flags_and_the_item_page_shows_them(world, flagged, client):
    items, project = world["items"], world["project"]
    client.force_login(world["staff"])
    body = client.get(f"/projects/{project.pk}/items/?judge=no-red").content.decode()
    assert f"Judge run #{flagged.pk}" in body and 'value="no-red" selected' in body
    assert f'data-item="{items[2].pk}"' in body and f'data-item="{items[3].pk}"' not in body
    body = client.get(f"/projects/{project.pk}/items/?human=1&judge=any").content.decode()
    assert f'data-item="{items[3].pk}"' in body and f'data-item="{items[12].pk}"' not in body
    body = client.get(f"/corpora/{world['corpus'].pk}/items/?judge=bogus").content.decode()
    assert "Unknown judge rule; ignored." in body and f'data-item="{items[0].pk}"' in body
    page = client.get(f"/items/{items[3].pk}/").content.decode()
    assert 'id="item-flags"' in page and f"run #{flagged.pk}" in page
    assert 'no-triangle: <b class="judge-violates">violates</b>' in page
