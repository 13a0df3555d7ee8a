"""Queue API: next item (lease), skip, postpone, draft autosave, the queue's status."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from annotation.api.engine import EngineApi
from annotation.api.serializers import AnswersField, ItemOutputSerializer
from annotation.selectors.queue_status import project_queue_status
from annotation.services.candidate_order import display_order_for
from annotation.services.queue import draft_save, item_next, item_postpone, item_skip
from core.api.errors import error_responses
from core.api.permissions import IsProjectMember, IsProjectMemberCheckedInService


class AssignmentOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="Assignment (lease) id.")
    lease_expires_at = serializers.DateTimeField(help_text="Submit before this, or it returns.")
    is_gold = serializers.BooleanField(help_text="A gold (control) item.")
    candidate_order = serializers.DictField(
        child=serializers.ListField(child=serializers.IntegerField()),
        help_text=(
            "{turn: candidate indices in the order to show them}: random per assignment, the"
            " same on every request, and recorded with the annotation. Show candidates in this"
            " order (first = A); answers still name candidates by their index."
        ),
    )


class ItemNextApi(EngineApi):
    permission_classes = [IsProjectMemberCheckedInService]

    class InputSerializer(serializers.Serializer):
        exclude = serializers.ListField(
            child=serializers.IntegerField(),
            required=False,
            default=list,
            max_length=2,
            help_text="Item ids I already hold: lease another one (prefetch the next item).",
        )

    class OutputSerializer(serializers.Serializer):
        assignment = AssignmentOutputSerializer()
        item = ItemOutputSerializer()
        draft = AnswersField(allow_null=True, help_text="My autosaved answers, or null.")

    @extend_schema(
        operation_id="project_next_item",
        summary="Lease the next item to me",
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            204: OpenApiResponse(description="Nothing left for me in this project."),
            **error_responses(401, 403, 404),
        },
        examples=[
            OpenApiExample(
                "Leased",
                value={
                    "assignment": {
                        "id": 5,
                        "lease_expires_at": "2026-01-01T10:10:00Z",
                        "is_gold": False,
                        "candidate_order": {},
                    },
                    "item": {
                        "id": 17,
                        "external_id": "000000215677",
                        "image_url": "/media/images/ab/abcd.jpg",
                        "width": 640,
                        "height": 480,
                        "category": "conversation",
                        "conversations": [
                            {"from": "human", "value": "<image>\nWhat?"},
                            {"from": "gpt", "value": "A cat."},
                        ],
                        "questions": None,
                    },
                    "draft": None,
                },
                response_only=True,
                status_codes=["200"],
            )
        ],
    )
    def post(self, request: Request, project_id: int) -> Response:
        exclude = _plain_excludes(request.data)
        if exclude is None:
            data = self.InputSerializer(data=request.data or {})
            data.is_valid(raise_exception=True)
            exclude = data.validated_data["exclude"]
        lease = item_next(project_id=project_id, user=request.user, exclude_item_ids=exclude)
        if lease is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(
            {
                "assignment": {
                    "id": lease.assignment_id,
                    "lease_expires_at": lease.lease_expires_at,
                    "is_gold": lease.is_gold,
                    "candidate_order": display_order_for(
                        assignment_id=lease.assignment_id,
                        conversations=lease.item.get("conversations"),
                        questions=lease.item.get("questions"),
                    ),
                },
                "item": lease.item,
                "draft": lease.draft,
            }
        )


def _plain_excludes(data: Any) -> list[int] | None:
    """`exclude` of a well-formed body without the serializer (the hot path); None otherwise.

    Anything unusual goes through InputSerializer, which accepts or refuses it as before.
    """
    if not data:
        return []
    if type(data) is not dict:
        return None
    exclude = data.get("exclude", [])
    if type(exclude) is list and len(exclude) <= 2 and all(type(v) is int for v in exclude):
        return exclude
    return None


class ItemRefSerializer(serializers.Serializer):
    item_id = serializers.IntegerField(help_text="The item (its id, not the assignment's).")


class ItemStatusSerializer(serializers.Serializer):
    item_id = serializers.IntegerField()
    status = serializers.CharField(help_text="skipped | postponed")


class ItemSkipApi(EngineApi):
    permission_classes = [IsProjectMemberCheckedInService]

    InputSerializer = ItemRefSerializer
    OutputSerializer = ItemStatusSerializer

    @extend_schema(
        operation_id="project_skip_item",
        summary="Skip an item (per the project's skip policy)",
        request=ItemRefSerializer,
        responses={200: ItemStatusSerializer, **error_responses(400, 401, 404, 409)},
        examples=[OpenApiExample("Skip", value={"item_id": 17}, request_only=True)],
    )
    def post(self, request: Request, project_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item_id = data.validated_data["item_id"]
        assignment = item_skip(project_id=project_id, user=request.user, item_id=item_id)
        return Response({"item_id": item_id, "status": assignment.status})


class ItemPostponeApi(EngineApi):
    permission_classes = [IsProjectMemberCheckedInService]

    InputSerializer = ItemRefSerializer
    OutputSerializer = ItemStatusSerializer

    @extend_schema(
        operation_id="project_postpone_item",
        summary="Put an item aside; it comes back after the rest",
        request=ItemRefSerializer,
        responses={200: ItemStatusSerializer, **error_responses(400, 401, 404, 409)},
        examples=[OpenApiExample("Postpone", value={"item_id": 17}, request_only=True)],
    )
    def post(self, request: Request, project_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item_id = data.validated_data["item_id"]
        assignment = item_postpone(project_id=project_id, user=request.user, item_id=item_id)
        return Response({"item_id": item_id, "status": assignment.status})


class DraftApi(EngineApi):
    permission_classes = [IsProjectMemberCheckedInService]

    class InputSerializer(serializers.Serializer):
        answers = AnswersField()

    class OutputSerializer(serializers.Serializer):
        item_id = serializers.IntegerField()
        answers = AnswersField()
        saved_at = serializers.DateTimeField()

    @extend_schema(
        operation_id="project_draft_save",
        summary="Autosave my unsubmitted answers for an item",
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(400, 401, 404)},
        examples=[
            OpenApiExample("Draft", value={"answers": {"faithful": True}}, request_only=True)
        ],
    )
    def put(self, request: Request, project_id: int, item_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        assignment = draft_save(
            project_id=project_id,
            user=request.user,
            item_id=item_id,
            answers=data.validated_data["answers"],
        )
        return Response(
            {"item_id": item_id, "answers": assignment.draft, "saved_at": assignment.updated_at}
        )


class QueueStatusApi(EngineApi):
    permission_classes = [IsProjectMember]

    class OutputSerializer(serializers.Serializer):
        state = serializers.ChoiceField(
            choices=["complete", "available", "leased_by_others", "waiting_for_others"],
            help_text="complete: every item has its answers; available: work for me now; "
            "leased_by_others: the open items are leased to others right now; "
            "waiting_for_others: I answered what I can, others must reach the overlap.",
        )
        total = serializers.IntegerField(help_text="Items of the project (gold excluded).")
        done = serializers.IntegerField(help_text="Items with all the answers the overlap asks.")
        mine = serializers.IntegerField(help_text="Annotations I have submitted.")
        overlap = serializers.IntegerField(help_text="Annotators per item.")
        leased_by_others = serializers.IntegerField(
            help_text="Items I could answer that others hold leases on now."
        )
        waiting_for_others = serializers.IntegerField(
            help_text="Items I answered that still need other annotators."
        )
        next_lease_expires_at = serializers.DateTimeField(
            allow_null=True, help_text="When the first of those leases lapses."
        )

    @extend_schema(
        operation_id="project_queue_status",
        summary="My queue's state and the project's progress (member)",
        responses={200: OutputSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, project_id: int) -> Response:
        project, _ = self.project(project_id)
        status_ = project_queue_status(project=project, user=request.user)
        return Response(self.OutputSerializer(status_).data)
