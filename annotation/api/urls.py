from django.urls import path

from annotation.api.corpora import CorpusDetailApi, CorpusImportApi, CorpusListApi
from annotation.api.jobs import JobCancelApi, JobDetailApi

urlpatterns = [
    path("corpora/", CorpusListApi.as_view(), name="corpus-list"),
    path("corpora/<int:corpus_id>/", CorpusDetailApi.as_view(), name="corpus-detail"),
    path("corpora/<int:corpus_id>/imports/", CorpusImportApi.as_view(), name="corpus-import"),
    path("jobs/<int:job_id>/", JobDetailApi.as_view(), name="job-detail"),
    path("jobs/<int:job_id>/cancel/", JobCancelApi.as_view(), name="job-cancel"),
]
