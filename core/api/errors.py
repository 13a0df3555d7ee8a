"""One error shape for the whole API: `{"error": {"code", "message", "details"}}`."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import DataError
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiExample, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from core.errors import DomainError


class ApiError(exceptions.APIException):
    """Raise from a view for an HTTP-level error: `ApiError("lease_expired", "...", status=409)`."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status_code: int = status.HTTP_400_BAD_REQUEST,
        details: Any = None,
    ) -> None:
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.error_code = code
        self.error_details = details


def error_body(code: str, message: str, details: Any = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _first_message(detail: Any) -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            inner = _first_message(value)
            return inner if key == "non_field_errors" else f"{key}: {inner}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """The one place where errors become responses: domain errors, DRF's and Django's own."""
    if isinstance(exc, DomainError):
        exc = ApiError(exc.code, exc.message, status_code=exc.status, details=exc.details)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        # Raised while DRF parses the body: without this it left as Django's HTML 400.
        exc = ApiError(
            "request_too_large",
            f"The request body is over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.",
        )
    elif isinstance(exc, DataError):
        # A value the database can't hold (a number past its column's range, say) came from
        # the request: the client's error, and the statement changed nothing.
        exc = ApiError("value_out_of_range", "A value in the request is out of range.")
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, ApiError):
        body = error_body(exc.error_code, str(exc.detail), exc.error_details)
    elif isinstance(exc, exceptions.ValidationError):
        body = error_body("validation_error", _first_message(exc.detail), {"fields": exc.detail})
    else:
        code = getattr(exc, "default_code", "error")
        codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else code
        body = error_body(codes if isinstance(codes, str) else code, _first_message(response.data))
    response.data = body
    return response


ErrorSerializer = inline_serializer(
    name="Error",
    fields={
        "error": inline_serializer(
            name="ErrorBody",
            fields={
                "code": serializers.CharField(help_text="Stable machine-readable code."),
                "message": serializers.CharField(help_text="What went wrong, for a person."),
                "details": serializers.DictField(help_text="Field errors, problems, etc."),
            },
        )
    },
)

ERROR_EXAMPLE = OpenApiExample(
    "Validation error",
    value=error_body("validation_error", "name: This field is required.", {"fields": {}}),
    response_only=True,
    status_codes=["400"],
)


def error_responses(*codes: int) -> dict[int, Any]:
    """Schema entries for the error responses of an operation."""
    return {code: ErrorSerializer for code in codes}


@csrf_exempt
def api_not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    """Unknown paths under /api/ answer in the API's error shape, not with an HTML page."""
    return JsonResponse(error_body("not_found", "No such API endpoint."), status=404)
