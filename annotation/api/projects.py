"""Projects API: list/create, detail/settings, rubric, constitution versions, members."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from annotation.api.engine import EngineApi
from annotation.api.serializers import ConstitutionSerializer, QuestionSerializer, RuleSerializer
from annotation.models import Project, ProjectMembership
from annotation.selectors.projects import (
    constitution_current,
    project_corpus_ids,
    project_list,
    project_members,
    projects_progress,
)
from annotation.services.projects import (
    constitution_set,
    member_remove,
    member_set,
    members_bulk_add,
    project_create,
    project_update,
    rubric_set,
)
from core.api.errors import ApiError, error_responses
from core.api.permissions import (
    IsAuthenticated,
    IsProjectMember,
    IsProjectOwner,
    IsProjectReviewer,
    IsStaff,
    ReadOnly,
)
from corpora.models import Corpus
from corpora.selectors import corpora_by_ids

SAMPLING = [c for c, _ in Project.Sampling.choices]
SKIP = [c for c, _ in Project.SkipPolicy.choices]


class ProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField(help_text="Items with all their answers.")
    total = serializers.IntegerField(help_text="Items in the project (gold excluded).")


class ProjectSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    role = serializers.CharField(allow_null=True, help_text="My role; null for staff non-members.")
    overlap = serializers.IntegerField(help_text="Annotators per item.")
    progress = ProgressSerializer(help_text="The project's progress.")
    my_progress = serializers.DictField(help_text='{"annotations": n} I have submitted.')
    created_at = serializers.DateTimeField()


class ProjectDetailSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    instructions = serializers.CharField(help_text="Markdown.")
    corpora = serializers.ListField(child=serializers.IntegerField(), help_text="Corpus ids.")
    category_filter = serializers.ListField(child=serializers.CharField())
    overlap = serializers.IntegerField()
    gold_rate = serializers.FloatField()
    lease_seconds = serializers.IntegerField()
    sampling = serializers.ChoiceField(choices=SAMPLING)
    skip_policy = serializers.ChoiceField(choices=SKIP)
    gold_min_answers = serializers.IntegerField()
    gold_warn_below = serializers.FloatField()
    gold_block_below = serializers.FloatField()
    judge_assist = serializers.CharField(
        help_text="blind: annotators never see the safety judge's suggestions; assisted: they do."
    )
    role = serializers.CharField(help_text="My role (owner, reviewer, annotator, staff).")
    rubric = serializers.DictField(help_text='{"questions": [question, ...]}')
    constitution = ConstitutionSerializer(allow_null=True)


def project_detail_data(project: Project, role: str) -> dict:
    return {
        "id": project.pk,
        "name": project.name,
        "instructions": project.instructions,
        "corpora": project_corpus_ids(project=project),
        "category_filter": project.category_filter,
        "overlap": project.overlap,
        "gold_rate": project.gold_rate,
        "lease_seconds": project.lease_seconds,
        "sampling": project.sampling,
        "skip_policy": project.skip_policy,
        "gold_min_answers": project.gold_min_answers,
        "gold_warn_below": project.gold_warn_below,
        "gold_block_below": project.gold_block_below,
        "judge_assist": project.judge_assist,
        "role": role,
        "rubric": {"questions": project.rubric.questions},
        "constitution": constitution_current(project=project),
    }


class ProjectSettingsSerializer(serializers.Serializer):
    instructions = serializers.CharField(required=False, allow_blank=True, help_text="Markdown.")
    category_filter = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Categories drawn; [] = all."
    )
    overlap = serializers.IntegerField(required=False, min_value=1, max_value=100)
    gold_rate = serializers.FloatField(required=False, min_value=0, max_value=1)
    lease_seconds = serializers.IntegerField(required=False, min_value=10, max_value=604800)
    sampling = serializers.ChoiceField(choices=SAMPLING, required=False)
    skip_policy = serializers.ChoiceField(choices=SKIP, required=False)
    gold_min_answers = serializers.IntegerField(required=False, min_value=0, max_value=10_000)
    gold_warn_below = serializers.FloatField(required=False, min_value=0, max_value=1)
    gold_block_below = serializers.FloatField(required=False, min_value=0, max_value=1)
    judge_assist = serializers.ChoiceField(
        choices=["blind", "assisted"],
        required=False,
        help_text="Whether annotators see the safety judge's suggestions (default blind).",
    )


def _corpora(ids: list[int], user) -> list[Corpus]:
    # A corpus the user may not see answers as missing: attaching it would disclose its items.
    corpora = corpora_by_ids(ids=ids, user=user)
    missing = sorted(set(ids) - {c.pk for c in corpora})
    if missing:
        raise ApiError("invalid_corpus", f"No such corpus: {missing}.", details={"ids": missing})
    return corpora


class ProjectListApi(EngineApi):
    # Anyone signed in lists their own projects (the selector filters); staff create.
    permission_classes = [IsAuthenticated & ReadOnly | IsStaff]

    class InputSerializer(ProjectSettingsSerializer):
        name = serializers.CharField(max_length=200, help_text="Unique project name.")
        corpora = serializers.ListField(
            child=serializers.IntegerField(), min_length=1, help_text="Corpus ids to draw from."
        )
        preset = serializers.ChoiceField(
            choices=["instruction_quality", "safety_constitution"],
            required=False,
            help_text="Rubric preset (default instruction_quality).",
        )
        questions = QuestionSerializer(
            many=True, required=False, help_text="A custom rubric instead of a preset."
        )

    @extend_schema(
        operation_id="project_list",
        summary="My projects with progress",
        responses={200: ProjectSummarySerializer(many=True), **error_responses(401)},
    )
    def get(self, request: Request) -> Response:
        projects = list(project_list(user=request.user))
        progress = projects_progress(projects=projects, user=request.user)
        data = [
            {
                "id": p.pk,
                "name": p.name,
                "role": progress[p.pk]["role"],
                "overlap": p.overlap,
                "progress": {"done": progress[p.pk]["done"], "total": progress[p.pk]["total"]},
                "my_progress": {"annotations": progress[p.pk]["mine"]},
                "created_at": p.created_at,
            }
            for p in projects
        ]
        return Response(ProjectSummarySerializer(data, many=True).data)

    @extend_schema(
        operation_id="project_create",
        summary="Create a project (staff)",
        request=InputSerializer,
        responses={201: ProjectDetailSerializer, **error_responses(400, 401, 403, 409)},
        examples=[
            OpenApiExample(
                "Instruction quality",
                value={
                    "name": "Batch 1",
                    "corpora": [1],
                    "preset": "instruction_quality",
                    "overlap": 3,
                    "gold_rate": 0.05,
                    "lease_seconds": 600,
                    "sampling": "random",
                    "skip_policy": "requeue_for_others",
                    "instructions": "# Read carefully",
                },
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        corpora = _corpora(values.pop("corpora"), request.user)
        questions = values.pop("questions", None)
        project = project_create(
            corpora=corpora,
            created_by=request.user,
            preset=values.pop("preset", None) or "instruction_quality",
            questions=questions,
            **values,
        )
        return Response(
            ProjectDetailSerializer(project_detail_data(project, "owner")).data,
            status=status.HTTP_201_CREATED,
        )


class ProjectDetailApi(EngineApi):
    permission_classes = [IsProjectMember & ReadOnly | IsProjectOwner]

    class InputSerializer(ProjectSettingsSerializer):
        name = serializers.CharField(max_length=200, required=False)
        corpora = serializers.ListField(child=serializers.IntegerField(), required=False)

    @extend_schema(
        operation_id="project_retrieve",
        summary="One project with rubric and constitution",
        responses={200: ProjectDetailSerializer, **error_responses(401, 404)},
    )
    def get(self, request: Request, project_id: int) -> Response:
        project, role = self.project(project_id)
        return Response(ProjectDetailSerializer(project_detail_data(project, role)).data)

    @extend_schema(
        operation_id="project_update",
        summary="Change project settings (owner)",
        request=InputSerializer,
        responses={200: ProjectDetailSerializer, **error_responses(400, 401, 403, 404, 409)},
        examples=[OpenApiExample("Overlap", value={"overlap": 2}, request_only=True)],
    )
    def patch(self, request: Request, project_id: int) -> Response:
        project, role = self.project(project_id)
        data = self.InputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        if "corpora" in values:
            values["corpora"] = _corpora(values["corpora"], request.user)
        project = project_update(project=project, **values)
        return Response(ProjectDetailSerializer(project_detail_data(project, role)).data)


class ProjectRubricApi(EngineApi):
    permission_classes = [IsProjectOwner]

    class InputSerializer(serializers.Serializer):
        questions = serializers.ListField(
            child=serializers.DictField(), help_text="Ordered questions (see Question)."
        )

    @extend_schema(
        operation_id="project_rubric_replace",
        summary="Replace the rubric (owner)",
        request=InputSerializer,
        responses={200: ProjectDetailSerializer, **error_responses(400, 401, 403, 404)},
        examples=[
            OpenApiExample(
                "Two questions",
                value={
                    "questions": [
                        {
                            "key": "faithful",
                            "type": "binary",
                            "prompt": "Faithful?",
                            "required": True,
                        },
                        {
                            "key": "overall",
                            "type": "rating",
                            "prompt": "Overall",
                            "labels": [
                                {"value": 1, "label": "Bad"},
                                {"value": 2, "label": "OK"},
                                {"value": 3, "label": "Good"},
                            ],
                        },
                    ]
                },
                request_only=True,
            )
        ],
    )
    def put(self, request: Request, project_id: int) -> Response:
        project, role = self.project(project_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rubric_set(project=project, questions=data.validated_data["questions"])
        project.refresh_from_db()
        return Response(ProjectDetailSerializer(project_detail_data(project, role)).data)


def _flatten(errors: Any) -> list[str]:
    if isinstance(errors, dict):
        return [
            f"{k}: {m}" if not str(k).isdigit() else m
            for k, v in errors.items()
            for m in _flatten(v)
        ]
    if isinstance(errors, list):
        return [m for e in errors for m in _flatten(e)]
    return [str(errors)]


def _rule_errors(rules: list[dict], errors: Any) -> dict[str, list[str]]:
    """Serializer errors per rule key (or position), as readable lines, like the service's."""
    out: dict[str, list[str]] = {}
    # a list serializer's errors: a list (one entry per rule) or {position: errors}
    by_position = errors.items() if isinstance(errors, dict) else enumerate(errors)
    for position, problems in by_position:
        rule = rules[position] if isinstance(position, int) and position < len(rules) else {}
        if problems:
            key = rule.get("key")
            name = key if isinstance(key, str) and key else f"rules[{position}]"
            out[name] = _flatten(problems)
    return out


class ProjectConstitutionApi(EngineApi):
    permission_classes = [IsProjectOwner]

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(required=False, allow_blank=True, default="")
        rules = serializers.ListField(child=serializers.DictField(), help_text="Rules in order.")

    @extend_schema(
        operation_id="project_constitution_replace",
        summary="Store a new constitution version (owner)",
        request=InputSerializer,
        responses={200: ConstitutionSerializer, **error_responses(400, 401, 403, 404)},
        examples=[
            OpenApiExample(
                "One rule",
                value={
                    "rules": [
                        {
                            "key": "gore",
                            "text": "No gore.",
                            "category": "violence",
                            "severity": "high",
                            "objectified": "Visible open wounds.",
                            "preconditions": [],
                        }
                    ]
                },
                request_only=True,
            )
        ],
    )
    def put(self, request: Request, project_id: int) -> Response:
        project, _ = self.project(project_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rules = RuleSerializer(data=data.validated_data["rules"], many=True)
        if not rules.is_valid():
            raise ApiError(
                "invalid_constitution",
                "The constitution is invalid.",
                details=_rule_errors(data.validated_data["rules"], rules.errors),
            )
        constitution_set(
            project=project,
            rules=[dict(r) for r in rules.validated_data],
            name=data.validated_data["name"],
            created_by=request.user,
        )
        return Response(ConstitutionSerializer(constitution_current(project=project)).data)


class MemberSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    username = serializers.CharField()
    role = serializers.ChoiceField(choices=ProjectMembership.Role.values)
    gold_answered = serializers.IntegerField(help_text="Gold items answered.")
    gold_accuracy = serializers.FloatField(allow_null=True, help_text="Share correct on gold.")


class ProjectMembersBulkApi(EngineApi):
    permission_classes = [IsProjectOwner]

    class InputSerializer(serializers.Serializer):
        people = serializers.CharField(
            max_length=200_000,
            help_text="Usernames or e-mail addresses, one per line (commas also separate).",
        )
        role = serializers.ChoiceField(
            choices=ProjectMembership.Role.values, default="annotator", help_text="Their role."
        )

    @extend_schema(
        operation_id="project_members_bulk_add",
        summary="Add many members at once, all or nothing (owner)",
        request=InputSerializer,
        responses={200: MemberSerializer(many=True), **error_responses(400, 401, 403, 404)},
        examples=[
            OpenApiExample(
                "Three annotators",
                value={"people": "maria\njo@example.org\nsam", "role": "annotator"},
                request_only=True,
            ),
            OpenApiExample(
                "A line that names nobody",
                value={
                    "error": {
                        "code": "invalid_members",
                        "message": "Line 2 (jo@example.org): No such user. Nobody was added.",
                        "details": {
                            "lines": [
                                {"line": 2, "value": "jo@example.org", "message": "No such user."}
                            ]
                        },
                    }
                },
                response_only=True,
                status_codes=["400"],
            ),
        ],
    )
    def post(self, request: Request, project_id: int) -> Response:
        project, _ = self.project(project_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        members_bulk_add(
            project=project, text=data.validated_data["people"], role=data.validated_data["role"]
        )
        return Response(MemberSerializer(ProjectMembersApi._rows(project), many=True).data)


class ProjectMembersApi(EngineApi):
    permission_classes = [IsProjectReviewer & ReadOnly | IsProjectOwner]

    class InputSerializer(serializers.Serializer):
        user_id = serializers.IntegerField(required=False, help_text="User id, or give username.")
        username = serializers.CharField(required=False, help_text="Username, or give user_id.")
        role = serializers.ChoiceField(
            choices=ProjectMembership.Role.values, default="annotator", help_text="Project role."
        )

        def validate(self, attrs: dict) -> dict:
            if not attrs.get("user_id") and not attrs.get("username"):
                raise serializers.ValidationError("Give user_id or username.")
            return attrs

    class DeleteSerializer(serializers.Serializer):
        user_id = serializers.IntegerField(help_text="The member to remove.")

    @staticmethod
    def _rows(project: Project) -> list[dict]:
        return [
            {
                "user_id": m.user_id,
                "username": m.user.username,
                "role": m.role,
                "gold_answered": m.gold_answered,
                "gold_accuracy": m.gold_accuracy,
            }
            for m in project_members(project=project)
        ]

    @extend_schema(
        operation_id="project_members_list",
        summary="Members and roles (reviewer)",
        responses={200: MemberSerializer(many=True), **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, project_id: int) -> Response:
        project, _ = self.project(project_id)
        return Response(MemberSerializer(self._rows(project), many=True).data)

    @extend_schema(
        operation_id="project_members_set",
        summary="Add a member or change a role (owner)",
        request=InputSerializer,
        responses={200: MemberSerializer(many=True), **error_responses(400, 401, 403, 404)},
        examples=[
            OpenApiExample("Add", value={"username": "ann", "role": "annotator"}, request_only=True)
        ],
    )
    def post(self, request: Request, project_id: int) -> Response:
        project, _ = self.project(project_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        member_set(project=project, **data.validated_data)
        return Response(MemberSerializer(self._rows(project), many=True).data)

    @extend_schema(
        operation_id="project_members_remove",
        summary="Remove a member (owner)",
        request=DeleteSerializer,
        responses={200: MemberSerializer(many=True), **error_responses(400, 401, 403, 404)},
        examples=[OpenApiExample("Remove", value={"user_id": 7}, request_only=True)],
    )
    def delete(self, request: Request, project_id: int) -> Response:
        project, _ = self.project(project_id)
        data = self.DeleteSerializer(data=request.data or request.query_params)
        data.is_valid(raise_exception=True)
        member_remove(project=project, user_id=data.validated_data["user_id"])
        return Response(MemberSerializer(self._rows(project), many=True).data)
