from django.urls import path

from corpora.api.corpora import CorpusDetailApi, CorpusImportApi, CorpusListApi

urlpatterns = [
    path("corpora/", CorpusListApi.as_view(), name="corpus-list"),
    path("corpora/<int:corpus_id>/", CorpusDetailApi.as_view(), name="corpus-detail"),
    path("corpora/<int:corpus_id>/imports/", CorpusImportApi.as_view(), name="corpus-import"),
]
