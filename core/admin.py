from django.contrib import admin

from core.models import ApiToken, Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "status", "progress_current", "progress_total", "created_at"]
    list_filter = ["kind", "status"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    # Read and revoke only: a secret exists only when the API makes a token.
    list_display = ["prefix", "name", "user", "created", "expires_at"]
    search_fields = ["user__username", "prefix", "name"]
    readonly_fields = ["user", "name", "prefix", "created", "expires_at"]
    exclude = ["digest", "password_fingerprint"]

    def has_add_permission(self, request) -> bool:
        return False
