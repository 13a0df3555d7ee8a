"""Pages for reward-model runs, scoring and curations."""

from django.urls import path

from frontend import curation_views as views
from frontend import rewrite_views

urlpatterns = [
    path(
        "projects/<int:project_id>/reward-models/",
        views.reward_model_runs_page,
        name="reward-model-runs",
    ),
    path("reward-models/<int:run_id>/", views.reward_model_run, name="reward-model-run"),
    path("projects/<int:project_id>/curation/", views.curations, name="curations"),
    path(
        "datasets/<int:dataset_id>/rewrites/<int:rewrite_id>/review/",
        rewrite_views.rewrite_review,
        name="rewrite-review",
    ),
    path("projects/<int:project_id>/judge/", views.judge_page, name="judge"),
]
