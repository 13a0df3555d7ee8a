from django.urls import path

from curation.api.curations import (
    DatasetDetailApi,
    DatasetDiffApi,
    DatasetExportApi,
    ExportDownloadApi,
    ProjectCurationApi,
    ProjectDatasetListApi,
    RewardModelScoreApi,
)
from curation.api.reward_models import (
    ProjectRewardModelsApi,
    RewardModelDetailApi,
    RewardModelPromoteApi,
)
from curation.api.scorings import ScoringCurationApi, ScoringDetailApi, ScoringItemsApi
from curation.api.serving import RewardModelOpenRlhfApi, RewardModelScoreNowApi

urlpatterns = [
    path(
        "projects/<int:project_id>/reward-models/",
        ProjectRewardModelsApi.as_view(),
        name="reward-model-list",
    ),
    path("reward-models/<int:run_id>/", RewardModelDetailApi.as_view(), name="reward-model-detail"),
    path(
        "reward-models/<int:run_id>/promote/",
        RewardModelPromoteApi.as_view(),
        name="reward-model-promote",
    ),
    path(
        "reward-models/<int:run_id>/scorings/",
        RewardModelScoreApi.as_view(),
        name="reward-model-score",
    ),
    path(
        "reward-models/<int:run_id>/score/",
        RewardModelScoreNowApi.as_view(),
        name="reward-model-score-now",
    ),
    path(
        "reward-models/<int:run_id>/openrlhf/",
        RewardModelOpenRlhfApi.as_view(),
        name="reward-model-openrlhf",
    ),
    path("scorings/<int:scoring_id>/", ScoringDetailApi.as_view(), name="scoring-detail"),
    path("scorings/<int:scoring_id>/items/", ScoringItemsApi.as_view(), name="scoring-items"),
    path(
        "scorings/<int:scoring_id>/curations/",
        ScoringCurationApi.as_view(),
        name="scoring-curation-create",
    ),
    path(
        "projects/<int:project_id>/curations/", ProjectCurationApi.as_view(), name="curation-create"
    ),
    path(
        "projects/<int:project_id>/datasets/", ProjectDatasetListApi.as_view(), name="dataset-list"
    ),
    path("datasets/<int:dataset_id>/", DatasetDetailApi.as_view(), name="dataset-detail"),
    path(
        "datasets/<int:dataset_id>/diff/<int:other_id>/",
        DatasetDiffApi.as_view(),
        name="dataset-diff",
    ),
    path("datasets/<int:dataset_id>/exports/", DatasetExportApi.as_view(), name="dataset-export"),
    path("exports/<int:export_id>/download/", ExportDownloadApi.as_view(), name="export-download"),
]

# the safety judge (curation/api/judge.py)
from curation.api.judge import (  # noqa: E402
    ItemJudgeSuggestionsApi,
    JudgeRunDetailApi,
    ProjectJudgeProposalsApi,
    ProjectJudgeRunsApi,
)

urlpatterns += [
    path("projects/<int:project_id>/judge-runs/", ProjectJudgeRunsApi.as_view(), name="judge-runs"),
    path("judge-runs/<int:judge_run_id>/", JudgeRunDetailApi.as_view(), name="judge-run-detail"),
    path(
        "projects/<int:project_id>/judge-proposals/",
        ProjectJudgeProposalsApi.as_view(),
        name="judge-proposals",
    ),
    path(
        "projects/<int:project_id>/items/<int:item_id>/judge/",
        ItemJudgeSuggestionsApi.as_view(),
        name="item-judge-suggestions",
    ),
]
