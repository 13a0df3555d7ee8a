from django.urls import path

from annotation.api.annotations import (
    AnnotationExportApi,
    AnnotationMineApi,
    AnnotationSubmitApi,
)
from annotation.api.items import ItemSuggestionsApi, ProjectItemsApi, ProjectMissingItemsApi
from annotation.api.preferences import PreferencesApi
from annotation.api.projects import (
    ProjectConstitutionApi,
    ProjectDetailApi,
    ProjectListApi,
    ProjectMembersApi,
    ProjectMembersBulkApi,
    ProjectRubricApi,
)
from annotation.api.queue import (
    DraftApi,
    ItemNextApi,
    ItemPostponeApi,
    ItemSkipApi,
    QueueStatusApi,
)
from annotation.api.review import (
    AgreementApi,
    ProgressApi,
    ReviewNextApi,
    ReviewSubmitApi,
)

_P = "projects/<int:project_id>/"
urlpatterns = [
    path("projects/", ProjectListApi.as_view(), name="project-list"),
    path(_P, ProjectDetailApi.as_view(), name="project-detail"),
    path(_P + "rubric/", ProjectRubricApi.as_view(), name="project-rubric"),
    path(_P + "constitution/", ProjectConstitutionApi.as_view(), name="project-constitution"),
    path(_P + "members/", ProjectMembersApi.as_view(), name="project-members"),
    path(_P + "members/bulk/", ProjectMembersBulkApi.as_view(), name="project-members-bulk"),
    path(_P + "next/", ItemNextApi.as_view(), name="project-next"),
    path(_P + "queue/status/", QueueStatusApi.as_view(), name="project-queue-status"),
    path(_P + "skip/", ItemSkipApi.as_view(), name="project-skip"),
    path(_P + "postpone/", ItemPostponeApi.as_view(), name="project-postpone"),
    path(_P + "drafts/<int:item_id>/", DraftApi.as_view(), name="project-draft"),
    path(_P + "annotations/", AnnotationSubmitApi.as_view(), name="project-annotations"),
    path(_P + "annotations/mine/", AnnotationMineApi.as_view(), name="project-annotations-mine"),
    path(
        _P + "annotations/export/", AnnotationExportApi.as_view(), name="project-annotations-export"
    ),
    path(_P + "agreement/", AgreementApi.as_view(), name="project-agreement"),
    path(_P + "progress/", ProgressApi.as_view(), name="project-progress"),
    path(_P + "review/next/", ReviewNextApi.as_view(), name="project-review-next"),
    path(_P + "review/<int:item_id>/", ReviewSubmitApi.as_view(), name="project-review"),
    path(_P + "items/", ProjectItemsApi.as_view(), name="project-items"),
    path(_P + "items/missing/", ProjectMissingItemsApi.as_view(), name="project-items-missing"),
    path("items/<int:item_id>/suggestions/", ItemSuggestionsApi.as_view(), name="item-suggestions"),
    path("me/preferences/", PreferencesApi.as_view(), name="me-preferences"),
]
