from django.urls import path

from core.api.jobs import JobCancelApi, JobDetailApi
from core.api.tokens import TokenCreateApi, TokenListApi, TokenRevokeApi

urlpatterns = [
    path("auth/token/", TokenCreateApi.as_view(), name="api-token"),
    path("auth/tokens/", TokenListApi.as_view(), name="api-tokens"),
    path("auth/tokens/<int:token_id>/", TokenRevokeApi.as_view(), name="api-token-revoke"),
    path("jobs/<int:job_id>/", JobDetailApi.as_view(), name="job-detail"),
    path("jobs/<int:job_id>/cancel/", JobCancelApi.as_view(), name="job-cancel"),
]
