from django.urls import path

from rewrites.api.views import (
    DatasetRewritesApi,
    RewriteDetailApi,
    RewriteTurnDecisionApi,
    RewriteTurnsApi,
)

urlpatterns = [
    path("datasets/<int:dataset_id>/rewrites/", DatasetRewritesApi.as_view(), name="rewrite-list"),
    path(
        "datasets/<int:dataset_id>/rewrites/<int:rewrite_id>/",
        RewriteDetailApi.as_view(),
        name="rewrite-detail",
    ),
    path(
        "datasets/<int:dataset_id>/rewrites/<int:rewrite_id>/turns/",
        RewriteTurnsApi.as_view(),
        name="rewrite-turns",
    ),
    path(
        "datasets/<int:dataset_id>/rewrites/<int:rewrite_id>/turns/<int:turn_id>/decision/",
        RewriteTurnDecisionApi.as_view(),
        name="rewrite-turn-decision",
    ),
]
