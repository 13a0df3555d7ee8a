"""People (staff): accounts, invitation links, deactivation."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.errors import error_responses
from core.api.permissions import IsStaff
from core.selectors import user_get, users_list
from core.services.people import (
    InvitationLink,
    invitation_create,
    user_create,
    user_deactivate,
    user_reactivate,
)


class InvitationStateSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=["open", "used", "expired", "revoked"])
    expires_at = serializers.DateTimeField()


class UserOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.CharField(allow_blank=True)
    is_staff = serializers.BooleanField()
    is_active = serializers.BooleanField(help_text="False once deactivated: cannot sign in.")
    has_password = serializers.BooleanField(help_text="False until the invitation is accepted.")
    last_login = serializers.DateTimeField(allow_null=True)
    date_joined = serializers.DateTimeField()
    invitation = InvitationStateSerializer(
        allow_null=True, help_text="The latest invitation, or null."
    )


class InvitationOutputSerializer(serializers.Serializer):
    url = serializers.CharField(
        help_text="The link to give the person: signed, works once, until expires_at."
    )
    expires_at = serializers.DateTimeField()
    emailed = serializers.BooleanField(help_text="Whether it was also sent by e-mail.")


def _link(request: Request, link: InvitationLink) -> dict:
    return {"url": link.url, "expires_at": link.invitation.expires_at, "emailed": link.emailed}


def _user_row(user_id: int) -> dict:
    return next(row for row in users_list() if row["id"] == user_id)


class UserListApi(APIView):
    permission_classes = [IsStaff]

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150, help_text="Letters, digits, @.+-_")
        email = serializers.CharField(
            max_length=254, required=False, allow_blank=True, default="", help_text="Optional."
        )
        is_staff = serializers.BooleanField(
            required=False, default=False, help_text="Staff manage corpora, people, projects."
        )

    class CreatedSerializer(serializers.Serializer):
        user = UserOutputSerializer()
        invitation = InvitationOutputSerializer()

    @extend_schema(
        operation_id="user_list",
        summary="Accounts, with their latest invitation (staff)",
        responses={200: UserOutputSerializer(many=True), **error_responses(401, 403)},
    )
    def get(self, request: Request) -> Response:
        return Response(UserOutputSerializer(users_list(), many=True).data)

    @extend_schema(
        operation_id="user_create",
        summary="Create an account and its invitation link (staff)",
        request=InputSerializer,
        responses={201: CreatedSerializer, **error_responses(400, 401, 403, 409)},
        examples=[
            OpenApiExample(
                "Annotator",
                value={"username": "maria", "email": "maria@example.org"},
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = user_create(**data.validated_data, created_by=request.user)
        link = invitation_create(
            user=user, created_by=request.user, base_url=request.build_absolute_uri("/")
        )
        return Response(
            {
                "user": UserOutputSerializer(_user_row(user.pk)).data,
                "invitation": _link(request, link),
            },
            status=status.HTTP_201_CREATED,
        )


class UserInvitationApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        operation_id="user_invitation_create",
        summary="A new invitation link for an account; earlier links stop working (staff)",
        request=None,
        responses={201: InvitationOutputSerializer, **error_responses(400, 401, 403, 404)},
    )
    def post(self, request: Request, user_id: int) -> Response:
        link = invitation_create(
            user=user_get(user_id=user_id),
            created_by=request.user,
            base_url=request.build_absolute_uri("/"),
        )
        return Response(_link(request, link), status=status.HTTP_201_CREATED)


class UserActiveApi(APIView):
    permission_classes = [IsStaff]

    class InputSerializer(serializers.Serializer):
        is_active = serializers.BooleanField(
            help_text="false deactivates (no sign-in; tokens and open invitations revoked)."
        )

    @extend_schema(
        operation_id="user_set_active",
        summary="Deactivate or reactivate an account (staff)",
        request=InputSerializer,
        responses={200: UserOutputSerializer, **error_responses(400, 401, 403, 404)},
        examples=[OpenApiExample("Deactivate", value={"is_active": False}, request_only=True)],
    )
    def post(self, request: Request, user_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = user_get(user_id=user_id)
        if data.validated_data["is_active"]:
            user_reactivate(user=user)
        else:
            user_deactivate(user=user, by=request.user)
        return Response(UserOutputSerializer(_user_row(user.pk)).data)
