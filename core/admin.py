from django.contrib import admin

from core.models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "status", "progress_current", "progress_total", "created_at"]
    list_filter = ["kind", "status"]
