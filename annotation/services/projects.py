"""Writes on projects: creation, settings, rubric, constitution versions and members."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Max, Q
from django.db.models.functions import Lower

from annotation.models import Constitution, Project, ProjectItem, ProjectMembership, Rubric, Rule
from annotation.presets import default_constitution, rubric_preset
from annotation.services.rubric import rubric_questions_clean
from core.errors import DomainError
from corpora.models import Corpus

# Multiplicative hashing gives a fixed pseudo-random permutation in plain integer SQL that
# SQLite and PostgreSQL compute identically (values stay below 2**63).
RANDOM_MULTIPLIER = 2654435761
RANDOM_MODULUS = 2**32
SETTINGS_FIELDS = (
    "name",
    "instructions",
    "overlap",
    "gold_rate",
    "lease_seconds",
    "sampling",
    "skip_policy",
    "gold_min_answers",
    "gold_warn_below",
    "gold_block_below",
    "judge_assist",
)


class ProjectError(DomainError):
    """A project setting, rubric, constitution or membership change is refused."""

    def __init__(self, code: str, message: str, details: Any = None, status: int = 400) -> None:
        super().__init__(code, message, status=status, details=details)


def _check_settings(values: dict[str, Any]) -> None:
    if "overlap" in values and not 1 <= int(values["overlap"]) <= 100:
        raise ProjectError("invalid_overlap", "overlap must be between 1 and 100.")
    if "gold_rate" in values and not 0.0 <= float(values["gold_rate"]) <= 1.0:
        raise ProjectError("invalid_gold_rate", "gold_rate must be between 0 and 1.")
    if "lease_seconds" in values and not 10 <= int(values["lease_seconds"]) <= 7 * 86400:
        raise ProjectError("invalid_lease", "lease_seconds must be between 10 and 604800.")
    if "gold_min_answers" in values and not 0 <= int(values["gold_min_answers"]) <= 10_000:
        raise ProjectError("invalid_gold_min_answers", "gold_min_answers must be 0 to 10000.")
    if "judge_assist" in values and values["judge_assist"] not in Project.JudgeAssist.values:
        raise ProjectError("invalid_judge_assist", "judge_assist must be blind or assisted.")


@transaction.atomic
def project_create(
    *,
    name: str,
    corpora: Sequence[Corpus],
    created_by=None,
    category_filter: Sequence[str] = (),
    preset: str | None = "instruction_quality",
    questions: list[dict] | None = None,
    **settings: Any,
) -> Project:
    """Create a project, its rubric (a preset or given questions) and its items."""
    unknown = set(settings) - set(SETTINGS_FIELDS)
    if unknown:
        raise ProjectError("unknown_setting", f"Unknown settings: {', '.join(sorted(unknown))}.")
    _check_settings(settings)
    if Project.objects.filter(name=name).exists():
        raise ProjectError("conflict", f"A project named {name!r} exists.", status=409)
    if not corpora:
        raise ProjectError("no_corpora", "Give at least one corpus.")
    if questions is None:
        try:
            questions = rubric_preset(preset or "instruction_quality")
        except KeyError as exc:
            raise ProjectError("unknown_preset", str(exc.args[0])) from exc
    project = Project.objects.create(
        name=name, created_by=created_by, category_filter=list(category_filter), **settings
    )
    project.corpora.set(corpora)
    Rubric.objects.create(project=project, questions=rubric_questions_clean(questions))
    if preset == "safety_constitution" or any(q["type"] == "rule_verdict" for q in questions):
        constitution_set(project=project, **default_constitution(), created_by=created_by)
    if created_by is not None:
        ProjectMembership.objects.create(
            project=project, user=created_by, role=ProjectMembership.Role.OWNER
        )
    project_items_sync(project=project)
    return project


def project_items_sync(*, project: Project) -> int:
    """Add the project's missing items (its corpora, category filter) in one INSERT ... SELECT."""
    table = ProjectItem._meta.db_table
    corpus_ids = list(project.corpora.values_list("pk", flat=True))
    if not corpus_ids:
        return 0
    params: list[Any] = [project.pk, project.overlap, RANDOM_MULTIPLIER, project.pk, RANDOM_MODULUS]
    where = f"i.corpus_id IN ({', '.join(['%s'] * len(corpus_ids))})"
    params += corpus_ids
    if project.category_filter:
        where += f" AND i.category IN ({', '.join(['%s'] * len(project.category_filter))})"
        params += list(project.category_filter)
    # ON CONFLICT rather than NOT EXISTS: right after a big import the planner's statistics
    # still see an empty corpus, and an anti-join planned for one row turns quadratic.
    sql = (
        f"INSERT INTO {table} (project_id, item_id, open_slots, done_count, responses, random_key, "
        "is_gold, disagreement, adjudicated) "
        "SELECT %s, i.id, %s, 0, 0, (i.id * %s + %s * 40503) %% %s, FALSE, 0, FALSE "
        f"FROM annotation_item i WHERE {where} "
        "ON CONFLICT (project_id, item_id) DO NOTHING"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


@transaction.atomic
def project_update(*, project: Project, **values: Any) -> Project:
    """Change settings; a new overlap moves every item's open slots by the difference."""
    corpora = values.pop("corpora", None)
    category_filter = values.pop("category_filter", None)
    unknown = set(values) - set(SETTINGS_FIELDS)
    if unknown:
        raise ProjectError("unknown_setting", f"Unknown settings: {', '.join(sorted(unknown))}.")
    _check_settings(values)
    if "name" in values and Project.objects.filter(name=values["name"]).exclude(pk=project.pk):
        raise ProjectError("conflict", f"A project named {values['name']!r} exists.", status=409)
    old_overlap = project.overlap
    for field, value in values.items():
        setattr(project, field, value)
    if category_filter is not None:
        project.category_filter = list(category_filter)
    project.save()
    if project.overlap != old_overlap:
        _overlap_change(project=project, old=old_overlap)
    if corpora is not None:
        project.corpora.set(corpora)
    if corpora is not None or category_filter is not None:
        project_items_sync(project=project)
    return project


def _overlap_change(*, project: Project, old: int) -> None:
    # open_slots = overlap - slots held; recomputed from held slots so it never goes negative.
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {ProjectItem._meta.db_table} SET open_slots = CASE WHEN "
            "%s - (SELECT COUNT(*) FROM annotation_assignment a WHERE a.project_item_id = "
            f"{ProjectItem._meta.db_table}.id AND a.holds_slot) > 0 THEN %s - (SELECT COUNT(*) "
            "FROM annotation_assignment a WHERE a.project_item_id = "
            f"{ProjectItem._meta.db_table}.id AND a.holds_slot) ELSE 0 END "
            "WHERE project_id = %s AND NOT is_gold",
            [project.overlap, project.overlap, project.pk],
        )


def rubric_set(*, project: Project, questions: list[dict]) -> Rubric:
    clean = rubric_questions_clean(questions)
    rubric, _ = Rubric.objects.update_or_create(project=project, defaults={"questions": clean})
    project.rubric = rubric  # callers holding this project see the new rubric at once
    return rubric


_SEVERITIES = {choice for choice, _ in Rule.Severity.choices}
MAX_RULES = 200
MAX_PRECONDITIONS = 32
MAX_RULE_TEXT = 4000
# Column limits come from the model, so a value that would not fit is a 400, not a 500.
_RULE_TEXT_LIMITS = {
    "key": Rule._meta.get_field("key").max_length,
    "category": Rule._meta.get_field("category").max_length,
    "text": MAX_RULE_TEXT,
    "objectified": MAX_RULE_TEXT,
}


MAX_ALTERNATIVES = 16
MAX_PRECONDITION_TEXT = 500
MAX_OBJECT_TEXT = 100
# The editor writes one precondition per line with its alternatives separated by "|", and the
# central objects separated by commas: a value holding its own separator would not survive the
# round trip through the editor, so it is refused here (for API clients too).
_PRECONDITION_SEPARATORS = ("|", "\n", "\r")


def precondition_problems(pre: Any) -> list[str]:
    """Why an AND-chain of preconditions (each a yes/no check or a list of alternatives, any
    one of which suffices) is invalid; empty when it is valid."""
    if not isinstance(pre, list):
        return ["`preconditions` is a list of yes/no checks (strings, or lists of alternatives)."]
    if len(pre) > MAX_PRECONDITIONS:
        return [f"`preconditions`: at most {MAX_PRECONDITIONS}, got {len(pre)}."]
    problems = []
    for number, check in enumerate(pre, start=1):
        alternatives = check if isinstance(check, list) else [check]
        where = f"Precondition {number}"
        if not alternatives:
            problems.append(f"{where} has no alternatives.")
        elif len(alternatives) > MAX_ALTERNATIVES:
            problems.append(f"{where}: at most {MAX_ALTERNATIVES} alternatives.")
        elif not all(isinstance(a, str) and a.strip() for a in alternatives):
            problems.append(f"{where}: each alternative is a non-empty yes/no check (text).")
        elif any(len(a.strip()) > MAX_PRECONDITION_TEXT for a in alternatives):
            problems.append(
                f"{where}: each alternative is at most {MAX_PRECONDITION_TEXT} characters."
            )
        elif any(sep in a for a in alternatives for sep in _PRECONDITION_SEPARATORS):
            problems.append(f"{where}: an alternative may not contain '|' or a line break.")
    return problems


def central_object_problems(objects: Any) -> list[str]:
    """Why a rule's central object words are invalid; empty when they are valid."""
    if not isinstance(objects, list) or not all(isinstance(o, str) for o in objects):
        return ["`central_objects` is a list of words."]
    if len(objects) > MAX_PRECONDITIONS:
        return [f"`central_objects`: at most {MAX_PRECONDITIONS} words, got {len(objects)}."]
    if not all(0 < len(o.strip()) <= MAX_OBJECT_TEXT for o in objects):
        return [f"`central_objects`: each word is 1-{MAX_OBJECT_TEXT} characters."]
    if any("," in o or "\n" in o for o in objects):
        return ["`central_objects`: a word may not contain ',' or a line break."]
    return []


def _clean_preconditions(pre: list) -> list:
    """Trimmed; a precondition with one alternative is stored as plain text."""
    out: list = []
    for check in pre:
        alternatives = [a.strip() for a in (check if isinstance(check, list) else [check])]
        out.append(alternatives[0] if len(alternatives) == 1 else alternatives)
    return out


@transaction.atomic
def constitution_set(
    *,
    project: Project,
    rules: list[dict],
    name: str = "",
    created_by=None,
) -> Constitution:
    """Store a new version of the project's constitution (older versions stay)."""
    errors: dict[str, list[str]] = {}
    seen: set[str] = set()
    for position, rule in enumerate(rules or []):
        where = f"rules[{position}]"
        if not isinstance(rule, dict):
            errors[where] = ["Each rule is an object."]
            continue
        problems = []
        key = rule.get("key")
        if (
            not isinstance(key, str)
            or not key
            or not key.replace("_", "").replace("-", "").isalnum()
        ):
            problems.append("`key` is required: letters, digits, '_' or '-'.")
        elif key in seen:
            problems.append(f"Duplicate key {key!r}.")
        if not str(rule.get("text") or "").strip():
            problems.append("`text` is required.")
        if not str(rule.get("category") or "").strip():
            problems.append("`category` is required.")
        for field, limit in _RULE_TEXT_LIMITS.items():
            if len(str(rule.get(field) or "")) > limit:
                problems.append(f"`{field}` is longer than {limit} characters.")
        if rule.get("severity", "high") not in _SEVERITIES:
            problems.append(f"`severity` must be one of {', '.join(sorted(_SEVERITIES))}.")
        problems += precondition_problems(rule.get("preconditions", []))
        problems += central_object_problems(rule.get("central_objects", []))
        if problems:
            errors[key if isinstance(key, str) and key and key not in seen else where] = problems
        else:
            seen.add(key)
    if not rules:
        errors["rules"] = ["Give at least one rule."]
    elif len(rules) > MAX_RULES:
        errors["rules"] = [f"At most {MAX_RULES} rules."]
    if len(name or "") > Constitution._meta.get_field("name").max_length:
        errors["name"] = ["Too long."]
    if errors:
        raise ProjectError("invalid_constitution", "The constitution is invalid.", errors)
    latest = (
        Constitution.objects.select_for_update()
        .filter(project=project)
        .aggregate(v=Max("version"))["v"]
    )
    constitution = Constitution.objects.create(
        project=project, version=(latest or 0) + 1, name=name, created_by=created_by
    )
    Rule.objects.bulk_create(
        Rule(
            constitution=constitution,
            position=position,
            key=rule["key"],
            text=rule["text"],
            objectified=rule.get("objectified", ""),
            preconditions=_clean_preconditions(rule.get("preconditions", [])),
            central_objects=[o.strip() for o in rule.get("central_objects", [])],
            category=rule["category"],
            severity=rule.get("severity", "high"),
        )
        for position, rule in enumerate(rules)
    )
    return constitution


def member_set(
    *, project: Project, user_id: int | None = None, username: str | None = None, role: str
) -> ProjectMembership:
    User = get_user_model()
    user = (
        User.objects.filter(pk=user_id).first()
        if user_id
        else (User.objects.filter(username=username).first() if username else None)
    )
    if user is None:
        raise ProjectError("user_not_found", "No such user.")
    if role not in ProjectMembership.Role.values:
        raise ProjectError(
            "invalid_role", f"role must be one of {', '.join(ProjectMembership.Role.values)}."
        )
    with transaction.atomic():
        membership = (
            ProjectMembership.objects.select_for_update().filter(project=project, user=user).first()
        )
        if membership is None:
            return ProjectMembership.objects.create(project=project, user=user, role=role)
        if role != ProjectMembership.Role.OWNER:
            _ensure_another_owner(membership)
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


def member_remove(*, project: Project, user_id: int) -> None:
    with transaction.atomic():
        membership = (
            ProjectMembership.objects.select_for_update()
            .filter(project=project, user_id=user_id)
            .first()
        )
        if membership is None:
            raise ProjectError("not_a_member", "This user is not a member of the project.")
        _ensure_another_owner(membership)
        membership.delete()


def _ensure_another_owner(membership: ProjectMembership) -> None:
    """Refuse to demote or remove the project's last owner.

    The project's owner rows are locked first, so two owners demoting each other at the same
    time cannot both succeed.
    """
    if membership.role != ProjectMembership.Role.OWNER:
        return
    owners = list(
        ProjectMembership.objects.select_for_update()
        .filter(project_id=membership.project_id, role=ProjectMembership.Role.OWNER)
        .values_list("pk", flat=True)
    )
    if not any(pk != membership.pk for pk in owners):
        raise ProjectError("last_owner", "A project keeps at least one owner.")


MAX_BULK_MEMBERS = 1000


def members_bulk_add(*, project: Project, text: str, role: str) -> list[ProjectMembership]:
    """Add (or set the role of) every user named in `text`, one username or e-mail per line
    (commas and semicolons separate too). All or nothing: any line that names nobody, or
    more than one person, or a deactivated account, fails the whole request with per-line
    errors (`details.lines`: [{line, value, message}]) and no membership changes."""
    if role not in ProjectMembership.Role.values:
        raise ProjectError(
            "invalid_role", f"role must be one of {', '.join(ProjectMembership.Role.values)}."
        )
    if not isinstance(text, str):
        raise ProjectError("invalid_members", "Give the usernames or e-mails as text.")
    entries: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        for value in line.replace(";", ",").split(","):
            if value.strip():
                entries.append((number, value.strip()))
    if not entries:
        raise ProjectError("invalid_members", "Give at least one username or e-mail address.")
    if len(entries) > MAX_BULK_MEMBERS:
        raise ProjectError(
            "invalid_members", f"At most {MAX_BULK_MEMBERS} people at a time ({len(entries)})."
        )
    lowered = {v.lower() for _, v in entries}
    by_name: dict[str, list] = {}
    by_email: dict[str, list] = {}
    matches = (
        get_user_model()
        .objects.annotate(lower_name=Lower("username"), lower_email=Lower("email"))
        .filter(Q(lower_name__in=lowered) | Q(lower_email__in=lowered))
    )
    for user in matches:
        by_name.setdefault(user.lower_name, []).append(user)
        if user.lower_email:
            by_email.setdefault(user.lower_email, []).append(user)
    errors: list[dict[str, Any]] = []
    chosen: dict[int, Any] = {}
    for number, value in entries:
        key = value.lower()
        found = by_name.get(key) or by_email.get(key) or []
        if not found:
            errors.append({"line": number, "value": value, "message": "No such user."})
        elif len(found) > 1:
            errors.append(
                {
                    "line": number,
                    "value": value,
                    "message": "Several accounts match: give the username.",
                }
            )
        elif not found[0].is_active:
            errors.append(
                {"line": number, "value": value, "message": "This account is deactivated."}
            )
        else:
            chosen[found[0].pk] = found[0]
    if errors:
        first = errors[0]
        raise ProjectError(
            "invalid_members",
            f"Line {first['line']} ({first['value']}): {first['message']} Nobody was added.",
            details={"lines": errors},
        )
    with transaction.atomic():
        return [member_set(project=project, user_id=pk, role=role) for pk in sorted(chosen)]
