from django.urls import path

from core.api.jobs import JobCancelApi, JobDetailApi

urlpatterns = [
    path("jobs/<int:job_id>/", JobDetailApi.as_view(), name="job-detail"),
    path("jobs/<int:job_id>/cancel/", JobCancelApi.as_view(), name="job-cancel"),
]
