"""Signing in for the API: a token for a username and password, listing and revoking tokens.

The token endpoint is public and throttled (scope `auth_token`, per client address), and a
username is locked after repeated failures (core.services.signin). Its views authenticate
nothing for the POST, so no session cookie or CSRF token is involved.
"""

from __future__ import annotations

from django.contrib.auth import authenticate
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from core.api.errors import ApiError, error_body, error_responses
from core.api.permissions import IsAuthenticated
from core.models import ApiToken
from core.selectors import tokens_of_user
from core.services.signin import signin_check, signin_failed, signin_succeeded
from core.services.tokens import token_create, token_revoke

INVALID_CREDENTIALS = "Unable to sign in with the given username and password."


class TokenOutputSerializer(serializers.ModelSerializer):
    """A token as its owner sees it: never the secret."""

    prefix = serializers.CharField(
        read_only=True, help_text="The first characters of the secret, to tell tokens apart."
    )

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created", "expires_at"]


class TokenCreateApi(APIView):
    """POST: a new token (public, throttled). DELETE: revoke the token of this request."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_scope = "auth_token"

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=4096, trim_whitespace=False)
        name = serializers.CharField(
            max_length=100,
            required=False,
            default="",
            allow_blank=True,
            help_text="A label for the token (the script or machine that uses it).",
        )

    class OutputSerializer(TokenOutputSerializer):
        token = serializers.SerializerMethodField(
            help_text="The secret: send it as `Authorization: Token <token>`. It is shown "
            "only now; Arbiter keeps only its digest."
        )

        class Meta(TokenOutputSerializer.Meta):
            fields = ["token", *TokenOutputSerializer.Meta.fields]

        def get_token(self, token: ApiToken) -> str:
            return self.context["secret"]

    def get_authenticators(self):
        # DELETE revokes the token it is authenticated with; POST authenticates nobody.
        if getattr(self, "request", None) is not None and self.request.method == "DELETE":
            return [auth() for auth in api_settings.DEFAULT_AUTHENTICATION_CLASSES]
        return []

    def get_permissions(self):
        if getattr(self, "request", None) is not None and self.request.method == "DELETE":
            return [IsAuthenticated()]
        return [AllowAny()]

    def get_throttles(self):
        method = getattr(getattr(self, "request", None), "method", None)
        return [ScopedRateThrottle()] if method == "POST" else []

    @extend_schema(
        operation_id="auth_token_create",
        summary="Get an API token for a username and password",
        description="The token is shown once and expires after `ARBITER_TOKEN_TTL_DAYS` "
        "(30 days by default); a password change revokes every token of the user. Throttled "
        "per client address (429 `throttled`); after repeated failures the username is locked "
        "for some minutes (429 `too_many_attempts`), whether it exists or not.",
        request=InputSerializer,
        responses={201: OutputSerializer, **error_responses(400, 429)},
        auth=[],
        examples=[
            OpenApiExample(
                "Sign in",
                value={"username": "alice", "password": "…", "name": "labelling script"},
                request_only=True,
            ),
            OpenApiExample(
                "Locked",
                value=error_body(
                    "too_many_attempts",
                    "Too many failed sign-in attempts. Try again in 15 minutes.",
                ),
                response_only=True,
                status_codes=["429"],
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        username = data.validated_data["username"]
        signin_check(username=username)
        user = authenticate(
            request._request, username=username, password=data.validated_data["password"]
        )
        if user is None:
            signin_failed(username=username)
            raise ApiError("invalid_credentials", INVALID_CREDENTIALS)
        signin_succeeded(username=username)
        token, secret = token_create(user=user, name=data.validated_data["name"])
        body = self.OutputSerializer(token, context={"secret": secret}).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="auth_token_revoke",
        summary="Revoke the token this request is authenticated with (sign out)",
        request=None,
        responses={204: None, **error_responses(400, 401)},
    )
    def delete(self, request: Request) -> Response:
        if not isinstance(request.auth, ApiToken):
            raise ApiError(
                "not_token_authenticated",
                "This request is not authenticated with an API token.",
            )
        token_revoke(user=request.user, token_id=request.auth.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenListApi(APIView):
    permission_classes = [IsAuthenticated]  # the caller's own tokens only

    @extend_schema(
        operation_id="auth_tokens_list",
        summary="My API tokens that still work (never their secrets)",
        responses={200: TokenOutputSerializer(many=True), **error_responses(401)},
    )
    def get(self, request: Request) -> Response:
        return Response(TokenOutputSerializer(tokens_of_user(user=request.user), many=True).data)


class TokenRevokeApi(APIView):
    permission_classes = [IsAuthenticated]  # the caller's own tokens only

    @extend_schema(
        operation_id="auth_tokens_destroy",
        summary="Revoke one of my API tokens",
        request=None,
        responses={204: None, **error_responses(401, 404)},
    )
    def delete(self, request: Request, token_id: int) -> Response:
        if not token_revoke(user=request.user, token_id=token_id):
            raise ApiError("not_found", "No such token.", status_code=404)
        return Response(status=status.HTTP_204_NO_CONTENT)
