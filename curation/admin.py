from django.contrib import admin

from curation.models import (
    ActiveRewardModel,
    DatasetItem,
    DatasetVersion,
    Export,
    ItemScore,
    JudgeRun,
    RewardModelRun,
    RewardModelStep,
    ScoringRun,
    ScoringShard,
)


@admin.register(RewardModelRun)
class RewardModelRunAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "job", "created_at"]
    list_filter = ["project"]
    raw_id_fields = ["job", "created_by"]


@admin.register(RewardModelStep)
class RewardModelStepAdmin(admin.ModelAdmin):
    list_display = ["run", "step"]
    raw_id_fields = ["run"]


@admin.register(ActiveRewardModel)
class ActiveRewardModelAdmin(admin.ModelAdmin):
    list_display = ["project", "run"]
    raw_id_fields = ["run", "promoted_by"]


@admin.register(ScoringRun)
class ScoringRunAdmin(admin.ModelAdmin):
    list_display = ["id", "run", "corpus", "job"]
    raw_id_fields = ["run", "job"]


@admin.register(ScoringShard)
class ScoringShardAdmin(admin.ModelAdmin):
    list_display = ["id", "scoring"]
    raw_id_fields = ["scoring"]


@admin.register(ItemScore)
class ItemScoreAdmin(admin.ModelAdmin):
    list_display = ["item", "run"]
    raw_id_fields = ["item", "run"]


class DatasetItemInline(admin.TabularInline):
    model = DatasetItem
    raw_id_fields = ["item"]
    extra = 0


@admin.register(DatasetVersion)
class DatasetVersionAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "run", "created_at"]
    raw_id_fields = ["run", "created_by"]


@admin.register(DatasetItem)
class DatasetItemAdmin(admin.ModelAdmin):
    list_display = ["dataset", "item"]
    raw_id_fields = ["dataset", "item"]


@admin.register(Export)
class ExportAdmin(admin.ModelAdmin):
    list_display = ["id", "dataset", "job", "created_at"]
    raw_id_fields = ["dataset", "job", "created_by"]


@admin.register(JudgeRun)
class JudgeRunAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "constitution", "corpus", "job", "created_at"]
    list_filter = ["project"]
    raw_id_fields = ["project", "constitution", "corpus", "job", "created_by"]
