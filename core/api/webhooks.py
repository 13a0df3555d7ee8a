"""Webhook endpoints (staff-managed) and their delivery log."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.errors import error_responses
from core.api.pagination import IdCursorPagination, paginated
from core.api.permissions import IsStaff
from core.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from core.selectors import webhook_deliveries, webhook_endpoint_get, webhook_endpoints
from core.services.webhooks import EVENT_TYPES, webhook_endpoint_create, webhook_endpoint_delete


class EndpointOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "events", "description", "is_active", "created_at"]


class EndpointCreatedSerializer(EndpointOutputSerializer):
    secret = serializers.CharField(
        help_text="The signing secret: shown once, here. Verify `X-Arbiter-Signature` with it."
    )

    class Meta(EndpointOutputSerializer.Meta):
        fields = [*EndpointOutputSerializer.Meta.fields, "secret"]


class WebhookListApi(APIView):
    permission_classes = [IsStaff]

    class InputSerializer(serializers.Serializer):
        url = serializers.URLField(
            max_length=1000,
            help_text="http(s) URL that receives POSTs; must resolve to public addresses "
            "unless allowed by ARBITER_WEBHOOK_URL_ALLOW.",
        )
        events = serializers.ListField(
            child=serializers.ChoiceField(choices=EVENT_TYPES),
            required=False,
            default=list,
            help_text=f"Event types to send ({', '.join(EVENT_TYPES)}); empty: all.",
        )
        description = serializers.CharField(required=False, allow_blank=True, max_length=200)

    @extend_schema(
        operation_id="webhook_list",
        summary="Webhook endpoints (staff)",
        responses={200: EndpointOutputSerializer(many=True), **error_responses(401, 403)},
    )
    def get(self, request: Request) -> Response:
        return Response(EndpointOutputSerializer(webhook_endpoints(), many=True).data)

    @extend_schema(
        operation_id="webhook_create",
        summary="Add a webhook endpoint (staff); its signing secret is returned once",
        request=InputSerializer,
        responses={201: EndpointCreatedSerializer, **error_responses(400, 401, 403)},
        examples=[
            OpenApiExample(
                "Exports and failures",
                value={"url": "https://ci.example.org/arbiter", "events": ["export.ready"]},
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = webhook_endpoint_create(**data.validated_data, user=request.user)
        return Response(EndpointCreatedSerializer(endpoint).data, status=status.HTTP_201_CREATED)


class WebhookDetailApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        operation_id="webhook_retrieve",
        summary="A webhook endpoint (staff)",
        responses={200: EndpointOutputSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, endpoint_id: int) -> Response:
        endpoint = webhook_endpoint_get(endpoint_id=endpoint_id)
        return Response(EndpointOutputSerializer(endpoint).data)

    @extend_schema(
        operation_id="webhook_delete",
        summary="Delete a webhook endpoint and its delivery log (staff)",
        responses={204: None, **error_responses(401, 403, 404)},
    )
    def delete(self, request: Request, endpoint_id: int) -> Response:
        webhook_endpoint_delete(endpoint=webhook_endpoint_get(endpoint_id=endpoint_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class AttemptOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ["number", "started_at", "duration_ms", "response_code", "ok", "error"]


class DeliveryOutputSerializer(serializers.ModelSerializer):
    event_id = serializers.UUIDField(source="event.uuid", help_text="X-Arbiter-Event-Id.")
    event_type = serializers.CharField(source="event.type", help_text="X-Arbiter-Event.")
    attempt_log = AttemptOutputSerializer(many=True, help_text="Every attempt, in order.")

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event_id",
            "event_type",
            "status",
            "attempts",
            "next_attempt_at",
            "delivered_at",
            "created_at",
            "attempt_log",
        ]


class WebhookDeliveryListApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        operation_id="webhook_delivery_list",
        summary="Deliveries to an endpoint, newest first, each with its attempts (staff)",
        parameters=[
            OpenApiParameter("cursor", str, required=False, description="From `next`."),
            OpenApiParameter("page_size", int, required=False, description="Up to 1000."),
        ],
        responses={200: paginated(DeliveryOutputSerializer), **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, endpoint_id: int) -> Response:
        endpoint = webhook_endpoint_get(endpoint_id=endpoint_id)
        paginator = IdCursorPagination()
        page = paginator.paginate_queryset(
            webhook_deliveries(endpoint=endpoint), request, view=self
        )
        return paginator.get_paginated_response(DeliveryOutputSerializer(page, many=True).data)
