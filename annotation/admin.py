from django.contrib import admin

from annotation.models import (
    Adjudication,
    Annotation,
    AnnotationRevision,
    Assignment,
    Constitution,
    Project,
    ProjectItem,
    ProjectMembership,
    Rubric,
    Rule,
    Suggestion,
    UserPreferences,
)


class MembershipInline(admin.TabularInline):
    model = ProjectMembership
    raw_id_fields = ["user"]
    extra = 0


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "overlap", "gold_rate", "sampling", "skip_policy", "created_at"]
    search_fields = ["name"]
    filter_horizontal = ["corpora"]
    inlines = [MembershipInline]


@admin.register(ProjectItem)
class ProjectItemAdmin(admin.ModelAdmin):
    list_display = ["project", "item", "is_gold", "open_slots", "responses"]
    list_filter = ["project", "is_gold"]
    raw_id_fields = ["item"]


@admin.register(Rubric)
class RubricAdmin(admin.ModelAdmin):
    list_display = ["project"]


class RuleInline(admin.TabularInline):
    model = Rule
    extra = 0


@admin.register(Constitution)
class ConstitutionAdmin(admin.ModelAdmin):
    list_display = ["project", "version", "created_at"]
    inlines = [RuleInline]


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["project", "project_item", "user", "status", "lease_expires_at"]
    list_filter = ["status"]
    raw_id_fields = ["project_item", "user"]


class RevisionInline(admin.TabularInline):
    model = AnnotationRevision
    extra = 0
    readonly_fields = ["revision", "answers", "created_at"]


@admin.register(Annotation)
class AnnotationAdmin(admin.ModelAdmin):
    list_display = ["project", "item", "user", "revision", "updated_at"]
    list_filter = ["project"]
    raw_id_fields = ["item", "user", "project_item"]
    inlines = [RevisionInline]


@admin.register(Adjudication)
class AdjudicationAdmin(admin.ModelAdmin):
    list_display = ["project_item", "reviewer", "updated_at"]
    raw_id_fields = ["project_item", "reviewer"]


@admin.register(Suggestion)
class SuggestionAdmin(admin.ModelAdmin):
    list_display = ["item", "question_key", "model_version", "score"]
    raw_id_fields = ["item"]


@admin.register(UserPreferences)
class UserPreferencesAdmin(admin.ModelAdmin):
    list_display = ["user"]
    raw_id_fields = ["user"]


@admin.register(AnnotationRevision)
class AnnotationRevisionAdmin(admin.ModelAdmin):
    list_display = ["annotation", "revision", "created_at"]
    raw_id_fields = ["annotation"]


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    list_display = ["key", "constitution", "category", "severity"]
    list_filter = ["category", "severity"]


@admin.register(ProjectMembership)
class ProjectMembershipAdmin(admin.ModelAdmin):
    list_display = ["project", "user", "role", "gold_answered", "gold_accuracy"]
    list_filter = ["role", "project"]
    raw_id_fields = ["user"]
