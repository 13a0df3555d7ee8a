"""The queue's hot path as PostgreSQL statements: `next` in one round trip, a submit in two.

The portable ORM code in `queue.py` and `submit.py` does the same in more round trips and is
what SQLite (unit tests, `make run`) runs; these statements give the same results on
PostgreSQL, and the tests of the queue run on both (tests/engine/test_queue_postgres.py).

- `next`: two statements sent in one round trip, which PostgreSQL runs as one implicit
  transaction, each with its own snapshot: lock the caller's membership row (one annotator's
  requests run one at a time, so concurrent tabs share one lease) and return lapsed leases'
  slots to their items; then renew the caller's own lease or, when there is none, pick an item
  (`FOR UPDATE SKIP LOCKED`, in the documented order) and take it (`UPDATE ... RETURNING`,
  `INSERT ... RETURNING`), returning the item's payload. Reclaim and pick are separate
  statements because a statement does not see its own CTEs' writes: a slot returned by the
  reclaim must be pickable by the same call.
- submit: one read (assignment, item, rubric, rules, a seen `client_key`, the other answers of
  the item), validation in Python, then one write statement that marks the assignment
  submitted only if it is still in the state that was read (compare and set) and, from that
  row, inserts the annotation and its revision and moves the counters. When the assignment
  changed in between (a reclaim, a second tab) nothing is written and the caller falls back
  to the locked portable path.
"""

from __future__ import annotations

import json
import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction

from annotation.models import (
    Annotation,
    AnnotationRevision,
    Assignment,
    Constitution,
    ProjectItem,
    ProjectMembership,
    Rubric,
)
from annotation.models.constitution import Rule
from annotation.services.queue import Lease, WorkMembership, item_payload_of
from core.errors import DomainError
from corpora.models import ImageAsset, Item

ASG = Assignment._meta.db_table
PIT = ProjectItem._meta.db_table
ITEM = Item._meta.db_table
IMG = ImageAsset._meta.db_table
ANN = Annotation._meta.db_table
REV = AnnotationRevision._meta.db_table
MEM = ProjectMembership._meta.db_table
RUB = Rubric._meta.db_table
CON = Constitution._meta.db_table
RULE = Rule._meta.db_table
RECLAIM_BATCH = 200


def _json(value: Any) -> Any:
    # Django loads jsonb as text (its JSONField decodes it); raw cursors decode it here.
    return json.loads(value) if isinstance(value, str) else value


# --- next ----------------------------------------------------------------------------------------

# The payload columns of a leased row `l` (assignment id, project item id, draft) joined to its
# project item `c` (is_gold, item_id) and the item with its image.
_LEASE_COLUMNS = (
    "l.id, l.project_item_id, l.draft, c.is_gold, i.id, i.external_id, i.category, "
    "i.conversations, i.questions, img.file, img.width, img.height"
)
_LEASE_JOINS = f"JOIN {ITEM} i ON i.id = c.item_id LEFT JOIN {IMG} img ON img.id = i.image_id"

# The first statement: lock the caller's membership row until both statements are done (one
# annotator's requests run one at a time, so concurrent tabs share one lease), and return a
# batch of other annotators' lapsed leases' slots to their items. The caller's own lapsed
# leases are left to the second statement (the oldest one is renewed, as before) and to the
# other annotators' calls. The lock is in the main query, which always runs.
_LOCK_AND_RECLAIM = f"""
WITH lock AS (
    SELECT id FROM {MEM} WHERE id = %(membership)s FOR UPDATE
), lapsed AS (
    SELECT a.id, a.project_item_id, a.holds_slot FROM {ASG} a
    WHERE a.project_id = %(project)s AND a.status = 'leased' AND a.lease_expires_at < %(now)s
      AND a.user_id <> %(user)s
    ORDER BY a.lease_expires_at LIMIT {RECLAIM_BATCH}
    FOR UPDATE SKIP LOCKED
), expired AS (
    UPDATE {ASG} a SET status = 'expired', holds_slot = false, lease_expires_at = NULL
    FROM lapsed WHERE a.id = lapsed.id
), released AS (
    UPDATE {PIT} p SET open_slots = p.open_slots + r.n
    FROM (
        SELECT project_item_id, count(*) AS n FROM lapsed WHERE holds_slot
        GROUP BY project_item_id
    ) r
    WHERE p.id = r.project_item_id
)
SELECT count(*) FROM lock
"""

# Candidate branches, each a locked single-row subquery returning (id, item_id, is_gold, kind):
# kind 0 gold, 1 new, 2 again (postponed or lapsed, then skipped under requeue-for-me).
# Appended in the documented order; the outer LIMIT 1 stops at the first branch that yields a
# row, so later branches are neither run nor lock anything.
_NOT_SEEN = (
    f"NOT EXISTS (SELECT 1 FROM {ASG} s WHERE s.project_item_id = p.id AND s.user_id = %(user)s)"
)
_GOLD = f"""
    SELECT p.id, p.item_id, p.is_gold, 0 AS kind FROM {PIT} p
    WHERE p.project_id = %(project)s AND p.is_gold AND {_NOT_SEEN}
    ORDER BY p.random_key LIMIT 1
"""
_NEW = """
    SELECT p.id, p.item_id, p.is_gold, 1 AS kind FROM {pit} p
    WHERE p.project_id = %(project)s AND NOT p.is_gold AND p.open_slots > 0 AND {not_seen}{extra}
    ORDER BY {order} LIMIT 1 FOR UPDATE SKIP LOCKED
"""
_NEW_ORDER = {
    "sequential": "p.open_slots, p.id",
    "random": "p.open_slots, p.random_key",
    "uncertainty": "p.open_slots, p.uncertainty DESC NULLS LAST, p.id",
}
_AGAIN = f"""
    SELECT p.id, p.item_id, p.is_gold, 2 AS kind FROM {PIT} p
    JOIN {ASG} a ON a.project_item_id = p.id AND a.user_id = %(user)s
    WHERE p.project_id = %(project)s AND a.status IN {{statuses}}
      AND (p.is_gold OR p.open_slots > 0)
    ORDER BY a.status = 'skipped', a.updated_at, p.id LIMIT 1 FOR UPDATE OF p SKIP LOCKED
"""

# The second statement: renew the caller's oldest live lease outside the excluded items
# (`held`; its status is re-checked on the updated row, so a concurrent reclaim wins) or, when
# there is none, pick an item and take it. `gate` is false after a renewal, and then no branch
# runs (a one-time filter), so nothing is locked or taken.
_RENEW_OR_TAKE = f"""
WITH held AS (
    UPDATE {ASG} a SET lease_expires_at = %(expires)s, updated_at = %(now)s
    WHERE a.status = 'leased' AND a.id = (
        SELECT o.id FROM {ASG} o
        WHERE o.project_id = %(project)s AND o.user_id = %(user)s AND o.status = 'leased'
          AND NOT EXISTS (
              SELECT 1 FROM {PIT} x
              WHERE x.id = o.project_item_id AND x.item_id = ANY(%(exclude)s::bigint[])
          )
        ORDER BY o.created_at LIMIT 1
    )
    RETURNING a.id, a.project_item_id, a.draft
), gate AS MATERIALIZED (SELECT NOT EXISTS (SELECT 1 FROM held) AS go),
chosen AS MATERIALIZED (
    {{branches}}
    LIMIT 1
), took AS (
    UPDATE {PIT} p SET open_slots = p.open_slots - 1
    FROM chosen WHERE p.id = chosen.id AND NOT chosen.is_gold
), fresh AS (
    INSERT INTO {ASG}
        (project_id, project_item_id, user_id, status, holds_slot, lease_expires_at, draft,
         created_at, updated_at)
    SELECT %(project)s, chosen.id, %(user)s, 'leased', NOT chosen.is_gold, %(expires)s, NULL,
           %(now)s, %(now)s
    FROM chosen WHERE chosen.kind < 2
    RETURNING id, project_item_id, draft
), again AS (
    UPDATE {ASG} a SET status = 'leased', holds_slot = NOT chosen.is_gold,
        lease_expires_at = %(expires)s, updated_at = %(now)s
    FROM chosen WHERE chosen.kind = 2 AND a.project_item_id = chosen.id
        AND a.user_id = %(user)s
    RETURNING a.id, a.project_item_id, a.draft
)
SELECT {_LEASE_COLUMNS}
FROM (SELECT * FROM held UNION ALL SELECT * FROM fresh UNION ALL SELECT * FROM again) l
JOIN {PIT} c ON c.id = l.project_item_id {_LEASE_JOINS}
"""


def _compact(sql: str) -> str:
    # psycopg caches the parse of a query of at most 4096 characters; a longer one is split
    # again on every call (about 0.3 ms of CPU here). No literal in these statements holds a
    # run of spaces, so collapsing whitespace changes nothing else.
    return " ".join(sql.split())


def _branch(sql: str, n: int) -> str:
    gated = sql.replace("WHERE p.project_id", "WHERE (SELECT go FROM gate) AND p.project_id", 1)
    return f"SELECT * FROM ({gated}) b{n}"


def _next_sql(*, gold_first: bool, sampling: str, requeue_skipped: bool) -> str:
    branches: list[str] = []
    if gold_first:
        branches.append(_GOLD)
    order = _NEW_ORDER.get(sampling, _NEW_ORDER["sequential"])
    new = {"pit": PIT, "not_seen": _NOT_SEEN, "order": order}
    if sampling == "random":
        # Start the index walk at a random point of the fixed permutation, so concurrent
        # annotators spread over the project instead of queueing on the same rows; wrap round.
        branches.append(_NEW.format(**new, extra=" AND p.random_key >= %(start)s"))
    branches.append(_NEW.format(**new, extra=""))
    statuses = (
        "('postponed', 'expired', 'skipped')" if requeue_skipped else "('postponed', 'expired')"
    )
    branches.append(_AGAIN.replace("{statuses}", statuses))
    union = " UNION ALL ".join(_branch(sql, n) for n, sql in enumerate(branches))
    take = _RENEW_OR_TAKE.replace("{branches}", union)
    return ";".join(map(_compact, (_LOCK_AND_RECLAIM, take)))


_NEXT_SQL: dict[tuple[bool, str, bool], str] = {}


def _lease_from_row(row: tuple, expires: datetime) -> Lease:
    (asg_id, pitem_id, draft, is_gold, item_id, external_id, category, convs, questions) = row[:9]
    image_file, width, height = row[9:]
    item = item_payload_of(
        item_id=item_id,
        external_id=external_id,
        category=category,
        conversations=_json(convs),
        questions=_json(questions),
        image_file=image_file,
        width=width,
        height=height,
    )
    return Lease(asg_id, pitem_id, expires, is_gold, item, _json(draft))


def item_next(
    *,
    membership: WorkMembership,
    user_id: int,
    now: datetime,
    expires: datetime,
    exclude_item_ids: list[int],
    gold_first: bool,
    random_start: int,
) -> Lease | None:
    """Renew or take a lease: two statements in one round trip, which PostgreSQL runs as one
    implicit transaction, each with its own snapshot (the pick sees the slots the reclaim
    returned, and the lease a concurrent tab of the caller's took before the lock was given)."""
    key = (gold_first, membership.sampling, membership.skip_policy == "requeue_for_me")
    sql = _NEXT_SQL.get(key)
    if sql is None:
        sql = _NEXT_SQL[key] = _next_sql(gold_first=key[0], sampling=key[1], requeue_skipped=key[2])
    params = {
        "membership": membership.id,
        "project": membership.project_id,
        "user": user_id,
        "now": now,
        "expires": expires,
        "exclude": exclude_item_ids,
        "start": random_start,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        (locked,) = cursor.fetchone()
        cursor.nextset()
        row = cursor.fetchone()
    if not locked:  # the membership went away since the token was checked
        raise DomainError("not_found", "No such project.", status=404)
    return None if row is None else _lease_from_row(row, expires)


# --- submit --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubmitContext:
    """What a submit reads before it writes (one statement)."""

    assignment_id: int | None
    status: str | None
    holds_slot: bool | None
    project_item_id: int | None
    is_gold: bool
    gold_answers: dict | None
    done_count: int
    item: Item | None  # conversations and questions, for validating comparisons
    questions: list[dict]
    rule_keys: list[str]
    other_answers: list[dict]
    seen: dict[str, Any] | None  # the annotation a seen client_key produced


_SEEN_FIELDS = ("id", "project_id", "user_id", "item_id", "answers", "revision")

_SUBMIT_READ = f"""
SELECT a.id, a.status, a.holds_slot, c.id, c.is_gold, c.gold_answers, c.done_count,
    i.conversations, i.questions, r.questions,
    CASE WHEN r.questions @> '[{{"type": "rule_verdict"}}]' THEN (
        SELECT array_agg(k.key ORDER BY k.position) FROM {RULE} k
        WHERE k.constitution_id = (
            SELECT v.id FROM {CON} v WHERE v.project_id = %(project)s
            ORDER BY v.version DESC LIMIT 1
        )
    ) END,
    CASE WHEN c.done_count >= 1 THEN (
        SELECT json_agg(o.answers) FROM {ANN} o
        WHERE o.project_item_id = c.id AND o.source = 'human' AND o.user_id <> %(user)s
    ) END,
    CASE WHEN %(key)s::uuid IS NOT NULL THEN (
        SELECT json_build_array(n.id, n.project_id, n.user_id, n.item_id, n.answers, n.revision)
        FROM {REV} v JOIN {ANN} n ON n.id = v.annotation_id WHERE v.client_key = %(key)s::uuid
    ) END
FROM {RUB} r
LEFT JOIN ({PIT} c JOIN {ITEM} i ON i.id = c.item_id)
    ON c.project_id = %(project)s AND c.item_id = %(item)s
LEFT JOIN {ASG} a ON a.project_item_id = c.id AND a.user_id = %(user)s
WHERE r.project_id = %(project)s
"""


def submit_read(
    *, project_id: int, user_id: int, item_id: int, client_key: uuid.UUID | None
) -> SubmitContext:
    params = {"project": project_id, "user": user_id, "item": item_id, "key": client_key}
    with connection.cursor() as cursor:
        cursor.execute(_SUBMIT_READ, params)
        row = cursor.fetchone()
    if row is None:
        raise DomainError("not_found", "No such project.", status=404)
    (asg_id, status, holds, pitem_id, is_gold, gold_answers, done_count, convs, item_qs) = row[:9]
    rubric, rule_keys, others, seen = row[9:]
    seen = _json(seen)
    return SubmitContext(
        assignment_id=asg_id,
        status=status,
        holds_slot=holds,
        project_item_id=pitem_id,
        is_gold=bool(is_gold),
        gold_answers=_json(gold_answers),
        done_count=done_count or 0,
        item=None
        if pitem_id is None
        else Item(id=item_id, conversations=_json(convs), questions=_json(item_qs)),
        questions=_json(rubric),
        rule_keys=list(rule_keys or []),
        other_answers=_json(others) or [],
        seen=None if seen is None else dict(zip(_SEEN_FIELDS, seen, strict=True)),
    )


_SUBMIT_FIRST = f"""
WITH asg AS (
    UPDATE {ASG} SET status = 'submitted', holds_slot = %(holds_after)s,
        lease_expires_at = NULL, draft = NULL
    WHERE id = %(assignment)s AND status = %(status)s AND holds_slot = %(holds)s
    RETURNING id
), ann AS (
    INSERT INTO {ANN}
        (project_id, project_item_id, item_id, user_id, answers, display_order, revision,
         source, is_gold, gold_correct, created_at, updated_at)
    SELECT %(project)s, %(pitem)s, %(item)s, %(user)s, %(answers)s::jsonb,
           %(display_order)s::jsonb, 1, 'human', %(is_gold)s,
           %(correct)s::boolean, %(now)s::timestamptz, %(now)s::timestamptz
    FROM asg
    RETURNING id
), rev AS (
    INSERT INTO {REV} (annotation_id, revision, answers, client_key, created_at)
    SELECT id, 1, %(answers)s::jsonb, %(key)s::uuid, %(now)s::timestamptz FROM ann
), counters AS (
    UPDATE {PIT} SET done_count = done_count + 1, responses = responses + 1,
        disagreement = COALESCE(%(disagreement)s::float8, disagreement)
    WHERE id = %(pitem)s AND EXISTS (SELECT 1 FROM asg)
), gold AS (
    UPDATE {MEM} SET gold_answered = gold_answered + 1,
        gold_correct = gold_correct + %(correct_int)s
    WHERE id = %(membership)s AND %(is_gold)s::boolean AND EXISTS (SELECT 1 FROM asg)
)
SELECT id FROM ann
"""

_SUBMIT_EDIT = f"""
WITH ann AS (
    UPDATE {ANN} SET revision = revision + 1, answers = %(answers)s::jsonb,
        updated_at = %(now)s::timestamptz
    WHERE project_item_id = %(pitem)s AND user_id = %(user)s
    RETURNING id, revision
), rev AS (
    INSERT INTO {REV} (annotation_id, revision, answers, client_key, created_at)
    SELECT id, revision, %(answers)s::jsonb, %(key)s::uuid, %(now)s::timestamptz FROM ann
), counters AS (
    UPDATE {PIT} SET disagreement = %(disagreement)s::float8
    WHERE id = %(pitem)s AND %(disagreement)s IS NOT NULL AND EXISTS (SELECT 1 FROM ann)
)
SELECT id, revision FROM ann
"""


def submit_first_write(**params: Any) -> int | None:
    """Write a first submit; the annotation id, or None when the assignment changed since read."""
    row = _write(_SUBMIT_FIRST, params)
    return None if row is None else row[0]


def submit_edit_write(**params: Any) -> tuple[int, int] | None:
    """Write an edit (a new revision); (annotation id, revision), or None if there is none."""
    return _write(_SUBMIT_EDIT, params)


def _write(sql: str, params: dict[str, Any]) -> Any:
    for key in ("answers", "display_order"):
        if key in params:
            params[key] = json.dumps(params[key])
    # A lone statement is atomic on its own; inside a caller's transaction a savepoint keeps a
    # failed one (a client_key taken by a concurrent submit) from breaking that transaction.
    guard = transaction.atomic() if connection.in_atomic_block else nullcontext()
    with guard, connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()
