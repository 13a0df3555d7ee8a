from django.contrib import admin

from core.models import (
    ApiToken,
    Invitation,
    Job,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "status", "progress_current", "progress_total", "created_at"]
    list_filter = ["kind", "status"]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ["id", "url", "is_active", "created_at"]
    list_filter = ["is_active"]
    # the secret signs deliveries: shown once by the API that creates the endpoint, not here
    exclude = ["secret"]
    readonly_fields = ["url", "created_by"]

    def has_add_permission(self, request) -> bool:
        return False  # endpoints are created through the API, which checks the URL


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    readonly_fields = ["number", "started_at", "duration_ms", "response_code", "ok", "error"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "endpoint", "event", "status", "attempts", "delivered_at"]
    list_filter = ["status"]
    readonly_fields = ["endpoint", "event", "attempts", "next_attempt_at", "delivered_at"]
    inlines = [WebhookAttemptInline]


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = ["id", "type", "uuid", "created_at"]
    list_filter = ["type"]
    readonly_fields = ["uuid", "key", "type", "data"]


@admin.register(WebhookAttempt)
class WebhookAttemptAdmin(admin.ModelAdmin):
    list_display = ["id", "delivery", "number", "response_code", "ok", "duration_ms", "started_at"]
    list_filter = ["ok"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    # Read and revoke only: a secret exists only when the API makes a token.
    list_display = ["prefix", "name", "user", "created", "expires_at"]
    search_fields = ["user__username", "prefix", "name"]
    readonly_fields = ["user", "name", "prefix", "created", "expires_at"]
    exclude = ["digest", "password_fingerprint"]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "created_by", "created_at", "expires_at", "used_at", "revoked_at"]
    # only the nonce's digest is stored: nothing here can be turned back into a link
    readonly_fields = ["user", "nonce_digest", "created_by", "expires_at", "used_at"]

    def has_add_permission(self, request) -> bool:
        return False  # links are made by the People page or API, which shows them once
