"""The data browser's reads: items of a corpus, a project or a dataset version, filtered by
text, category, a scoring's score range, annotation state, disagreement, the safety judge's
verdicts and the humans' rule verdicts; and one item with every annotation, score and flag.

Pages are keyset cursors on the item id (`after`): each page is one indexed range read of at
most `limit + 1` rows whatever the corpus size, where OFFSET would read every row before it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery

from annotation.models import Annotation, Project, ProjectItem, ProjectMembership, Suggestion
from annotation.selectors.judge_verdicts import (
    VIOLATES,
    human_majority,
    human_verdicts,
    judge_verdicts,
)
from corpora.models import Corpus, Item
from curation.models import DatasetItem, DatasetVersion, ItemScore, ScoringRun
from curation.selectors.judge import judge_run_latest
from curation.selectors.scores import human_unsafe_items

PAGE_SIZE = 50
MAX_QUERY = 200  # characters of a text search
STATES = ("unannotated", "partial", "complete")
PREVIEW_CHARS = 240
SEARCH_WINDOW = 2500  # items read per step of a text search
SEARCH_BUDGET_S = 0.12  # a text search returns what it found by then, with a cursor to go on
CATEGORIES_TTL_S = 600
HUMAN_CHUNK = 500  # candidates read per step when only the humans' majority can tell


@dataclass(frozen=True)
class BrowseFilters:
    """What the browser filters by; every field is optional. `state` and `disputed` need a
    project (the project browsed, or the dataset version's)."""

    q: str = ""
    category: str | None = None
    score_run_id: int | None = None  # the model whose scores are shown and filtered
    min_score: float | None = None
    max_score: float | None = None
    state: str | None = None  # one of STATES
    disputed: bool = False  # answered by two or more, annotators disagree, not adjudicated
    # The safety judge's run whose verdicts are shown and filtered; `judge_rule` "" keeps the
    # items it found violating any rule, a rule key those violating that rule.
    judge_run_id: int | None = None
    judge_rule: str | None = None
    # Items the project's annotators found violating some rule (a majority of their verdicts),
    # curation's `unsafe_human` flag; needs a project.
    human_flagged: bool = False


@dataclass
class BrowsePage:
    rows: list[dict[str, Any]] = field(default_factory=list)
    next_after: int | None = None  # the cursor of the next page; None on the last
    # A text search that spent its time budget: the item id it searched up to (the page may
    # hold fewer rows than a full one, and more matches may follow).
    searched_to: int | None = None


def _media(file: str | None) -> str | None:
    return f"{settings.MEDIA_URL}{file}" if file else None


def _preview(conversations: Any) -> str:
    """The first question, without LLaVA's image token, cut to a line's worth."""
    if isinstance(conversations, list):
        for turn in conversations:
            if isinstance(turn, dict) and turn.get("from") == "human":
                text = str(turn.get("value") or "").replace("<image>", "").strip()
                return text[:PREVIEW_CHARS]
    return ""


def items_browse(
    *,
    corpus_id: int | None = None,
    project: Project | None = None,
    dataset: DatasetVersion | None = None,
    filters: BrowseFilters = BrowseFilters(),
    after: int | None = None,
    limit: int = PAGE_SIZE,
) -> BrowsePage:
    """One page of items in id order, after the cursor `after`. Exactly one scope: a corpus,
    a project (its items) or a dataset version (its members)."""
    if sum(x is not None for x in (corpus_id, project, dataset)) != 1:
        raise ValueError("browse exactly one corpus, project or dataset version")
    items: QuerySet[Item] = Item.objects.all()
    state_project = project or (dataset.project if dataset is not None else None)
    order = ("pk",)
    if corpus_id is not None:
        # The same rows and order, said so that only the (corpus_id, id) index can serve them:
        # with `corpus_id = X ... ORDER BY id`, PostgreSQL may walk the primary key through
        # every earlier corpus's rows first (100 ms per 158k rows). A range is not folded into
        # a constant, so the ordering by (corpus_id, id) stays.
        items = items.filter(corpus_id__gte=corpus_id, corpus_id__lte=corpus_id)
        order = ("corpus_id", "pk")
    elif dataset is not None:
        members = DatasetItem.objects.filter(dataset=dataset, item=OuterRef("pk"))
        items = items.filter(Exists(members))
    if state_project is not None:
        project_items = ProjectItem.objects.filter(project=state_project, item=OuterRef("pk"))
        if project is not None:
            items = items.filter(Exists(project_items))
        conditions = _state_conditions(filters, overlap=state_project.overlap)
        if conditions is not None:
            items = items.filter(Exists(project_items.filter(conditions)))
        first = project_items.values
        items = items.annotate(
            done_count=Subquery(first("done_count")[:1]),
            disagreement=Subquery(first("disagreement")[:1]),
            adjudicated=Subquery(first("adjudicated")[:1]),
        )
    if filters.category is not None:
        items = items.filter(category=filters.category)
    if filters.score_run_id is not None:
        scores = ItemScore.objects.filter(run_id=filters.score_run_id, item=OuterRef("pk"))
        if filters.min_score is not None:
            items = items.filter(Exists(scores.filter(overall__gte=filters.min_score)))
        if filters.max_score is not None:
            items = items.filter(Exists(scores.filter(overall__lte=filters.max_score)))
        items = items.annotate(score=Subquery(scores.values("overall")[:1]))
    if filters.judge_run_id is not None:
        # one probe of the (run, item, rule) unique index per item read
        violations = Suggestion.objects.filter(
            judge_run_id=filters.judge_run_id, item=OuterRef("pk"), value__verdict=VIOLATES
        )
        if filters.judge_rule:
            items = items.filter(Exists(violations.filter(rule_key=filters.judge_rule)))
        elif filters.judge_rule is not None:
            items = items.filter(Exists(violations))
    human_project = state_project if filters.human_flagged else None
    if human_project is not None:
        # Only items someone answered "violates" can have a majority for it: that EXISTS
        # narrows the scope in SQL, and the majority itself is counted on each page's
        # candidates by the same code as curation's `unsafe_human` flag.
        items = items.filter(
            Exists(
                Annotation.objects.filter(
                    project=human_project, item=OuterRef("pk"), answers__icontains=VIOLATES
                )
            )
        )
    fields = [
        "pk",
        "corpus_id",
        "external_id",
        "category",
        "conversations",
        "image_file",
        *(["score"] if filters.score_run_id is not None else []),
        *(["done_count", "disagreement", "adjudicated"] if state_project else []),
    ]

    def fetch(queryset: QuerySet[Item], n: int) -> list[dict[str, Any]]:
        queryset = queryset.order_by(*order).annotate(image_file=F("image__file"))
        if human_project is None:
            return list(queryset.values(*fields)[:n])
        rows: list[dict[str, Any]] = []
        cursor = None
        while len(rows) < n:
            rest = queryset.filter(pk__gt=cursor) if cursor is not None else queryset
            size = max(n, HUMAN_CHUNK)
            chunk = list(rest.values(*fields)[:size])
            flagged = human_unsafe_items(
                project_id=human_project.pk, item_ids=[row["pk"] for row in chunk]
            )
            rows += [row for row in chunk if row["pk"] in flagged]
            if len(chunk) < size:
                break
            cursor = chunk[-1]["pk"]
        return rows[:n]

    page = BrowsePage()
    if filters.q:
        rows, page.searched_to = _search(items, filters.q[:MAX_QUERY], after, limit, fetch, order)
    else:
        rows = fetch(items.filter(pk__gt=after) if after is not None else items, limit + 1)
    if len(rows) > limit:
        rows = rows[:limit]
        page.next_after = rows[-1]["pk"]
    elif page.searched_to is not None:
        page.next_after = page.searched_to  # the search stopped on its budget: go on from there
    if filters.judge_run_id is not None:
        # The page's flags in one probe of the (run, item, rule) index: as a column of the page
        # query, PostgreSQL hashes every violation of the run first (120 ms at 158k items).
        flagged = set(
            Suggestion.objects.filter(
                judge_run_id=filters.judge_run_id,
                item_id__in=[row["pk"] for row in rows],
                value__verdict=VIOLATES,
            ).values_list("item_id", flat=True)
        )
        for row in rows:
            row["judge_flagged"] = row["pk"] in flagged
    for row in rows:
        row["preview"] = _preview(row.pop("conversations"))
        row["image_url"] = _media(row.pop("image_file"))
    page.rows = rows
    return page


def _search(
    items, q: str, after: int | None, limit: int, fetch, order: tuple[str, ...]
) -> tuple[list[dict], int | None]:
    """Text search without a text index: the scope is read in id windows of SEARCH_WINDOW
    items (each an index range), the text matched inside each, until a page is full, the
    scope ends, or SEARCH_BUDGET_S has passed. A planner that guesses few matches would
    otherwise read and sort the whole scope before the first row. Returns the rows and, when
    the budget ran out first, the id the search reached (None when it got to the end)."""
    matches = Q(external_id=q) | Q(conversations__icontains=q)
    rows: list[dict] = []
    cursor = after
    deadline = time.monotonic() + SEARCH_BUDGET_S
    while True:
        rest = items.filter(pk__gt=cursor) if cursor is not None else items
        edge = list(rest.order_by(*order).values_list("pk", flat=True)[SEARCH_WINDOW - 1 :][:1])
        window = rest.filter(pk__lte=edge[0]) if edge else rest
        rows += fetch(window.filter(matches), limit + 1 - len(rows))
        if not edge or len(rows) > limit:
            return rows, None
        cursor = edge[0]
        if time.monotonic() > deadline:
            return rows, cursor


def _state_conditions(filters: BrowseFilters, *, overlap: int) -> Q | None:
    conditions = Q()
    if filters.state == "unannotated":
        conditions &= Q(done_count=0)
    elif filters.state == "partial":
        conditions &= Q(done_count__gt=0, done_count__lt=overlap)
    elif filters.state == "complete":
        conditions &= Q(done_count__gte=overlap)
    if filters.disputed:
        # the review queue's own rule (and its partial index pitem_review)
        conditions &= Q(done_count__gte=2, adjudicated=False, disagreement__gt=0)
    return conditions if conditions else None


def browse_categories(*, corpus_ids: list[int], limit: int = 200) -> list[str]:
    """The categories in these corpora, for the filter's choices. Reading them is a scan of
    the corpora's category index, so the answer is cached until an import changes a corpus
    (its version is in the key)."""
    versions = sorted(Corpus.objects.filter(pk__in=corpus_ids).values_list("pk", "version"))
    key = "browse-categories:" + ",".join(f"{pk}.{version}" for pk, version in versions)
    found = cache.get(key)
    if found is None:
        found = list(
            Item.objects.filter(corpus_id__in=corpus_ids)
            .exclude(category="")
            .order_by("category")
            .values_list("category", flat=True)
            .distinct()[:limit]
        )
        cache.set(key, found, CATEGORIES_TTL_S)
    return found


def browse_score_runs(*, project_ids: list[int], corpus_id: int | None = None) -> list[ScoringRun]:
    """Finished scorings whose scores the browser may filter by: of the corpus when one is
    browsed, else of the projects' models; newest first."""
    scorings = ScoringRun.objects.filter(job__status="succeeded").select_related("run", "corpus")
    if corpus_id is not None:
        scorings = scorings.filter(corpus_id=corpus_id)
    else:
        scorings = scorings.filter(run__project_id__in=project_ids)
    return list(scorings.order_by("-created_at", "-id")[:50])


@dataclass
class ItemDetail:
    item: Item
    image_url: str | None
    turns: list[dict[str, Any]]  # {from, text} or {from, candidates: [text]}
    annotations: list[Annotation]
    scores: list[dict[str, Any]]
    project_states: list[ProjectItem]
    # per project: the latest judge run's decisions on the item and the humans' rule verdicts
    flags: list[dict[str, Any]] = field(default_factory=list)


def item_detail(*, item: Item, project_ids: list[int] | None) -> ItemDetail:
    """An item with every annotation and project state of the projects in `project_ids`
    (None: all) and every model's scores of it, newest model first."""
    annotations = Annotation.objects.filter(item=item).select_related("user", "project")
    states = ProjectItem.objects.filter(item=item).select_related("project")
    if project_ids is not None:
        annotations = annotations.filter(project_id__in=project_ids)
        states = states.filter(project_id__in=project_ids)
    score_rows = (
        ItemScore.objects.filter(item=item)
        .select_related("run")
        .order_by("-run__created_at", "-run_id")
    )
    if project_ids is not None:
        score_rows = score_rows.filter(run__project_id__in=project_ids)
    scores = [
        {
            "run_id": s.run_id,
            "project_id": s.run.project_id,
            "overall": s.overall,
            "criteria": s.criteria,
            "rules": s.rules,
        }
        for s in score_rows[:20]
    ]
    project_states = list(states)
    return ItemDetail(
        item=item,
        image_url=_media(item.image.file if item.image_id else None),
        turns=_turns(item.conversations),
        annotations=list(annotations.order_by("project_id", "created_at")[:500]),
        scores=scores,
        project_states=project_states,
        flags=[_item_flags(state.project, item.pk) for state in project_states],
    )


def _item_flags(project: Project, item_id: int) -> dict[str, Any]:
    """What the safety judge (the project's latest finished run, as curation reads it) and the
    annotators said about each rule of the constitution on this item."""
    run = judge_run_latest(project_ids=[project.pk])
    judged = judge_verdicts(run_id=run.pk, item_ids=[item_id]) if run is not None else {}
    judge = [
        {"rule": rule, "violated": d["violated"], "score": d["score"]}
        for (_, rule), d in sorted(judged.items())
    ]
    humans = [
        {
            "rule": rule,
            "violates": sum(votes),
            "clear": len(votes) - sum(votes),
            "majority": human_majority(votes),
        }
        for (_, rule), votes in sorted(human_verdicts(project=project, item_ids=[item_id]).items())
    ]
    return {
        "project": project,
        "judge_run_id": run.pk if run is not None else None,
        "judge": judge,
        "humans": humans,
    }


def _turns(conversations: Any) -> list[dict[str, Any]]:
    """The conversation as the page shows it: a candidate turn (a list) lists its candidates."""
    turns = []
    for turn in conversations if isinstance(conversations, list) else []:
        if not isinstance(turn, dict):
            continue
        value = turn.get("value")
        speaker = str(turn.get("from") or "")
        if isinstance(value, list):
            turns.append({"from": speaker, "candidates": [str(v) for v in value]})
        else:
            turns.append({"from": speaker, "text": str(value or "")})
    return turns


def reviewed_project_ids(*, user: Any) -> list[int] | None:
    """Projects whose annotations `user` may see (reviewer or owner); None for staff: all."""
    if user.is_staff:
        return None
    return list(
        ProjectMembership.objects.filter(
            user=user, role__in=[ProjectMembership.Role.REVIEWER, ProjectMembership.Role.OWNER]
        ).values_list("project_id", flat=True)
    )
