from django.urls import path

from core.api.jobs import JobCancelApi, JobDetailApi
from core.api.people import UserActiveApi, UserInvitationApi, UserListApi
from core.api.tokens import TokenCreateApi, TokenListApi, TokenRevokeApi
from core.api.webhooks import WebhookDeliveryListApi, WebhookDetailApi, WebhookListApi

urlpatterns = [
    path("users/", UserListApi.as_view(), name="user-list"),
    path("users/<int:user_id>/active/", UserActiveApi.as_view(), name="user-active"),
    path("users/<int:user_id>/invitations/", UserInvitationApi.as_view(), name="user-invitations"),
    path("auth/token/", TokenCreateApi.as_view(), name="api-token"),
    path("auth/tokens/", TokenListApi.as_view(), name="api-tokens"),
    path("auth/tokens/<int:token_id>/", TokenRevokeApi.as_view(), name="api-token-revoke"),
    path("jobs/<int:job_id>/", JobDetailApi.as_view(), name="job-detail"),
    path("jobs/<int:job_id>/cancel/", JobCancelApi.as_view(), name="job-cancel"),
    path("webhooks/", WebhookListApi.as_view(), name="webhook-list"),
    path("webhooks/<int:endpoint_id>/", WebhookDetailApi.as_view(), name="webhook-detail"),
    path(
        "webhooks/<int:endpoint_id>/deliveries/",
        WebhookDeliveryListApi.as_view(),
        name="webhook-delivery-list",
    ),
]
