"""The permission classes of core: what the matrix can't show directly."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.views import APIView

from annotation.services.projects import member_set, project_create
from core.api.permissions import IsProjectReviewer
from tests.factories import CorpusFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.django_db


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_a_project_role_on_a_view_that_names_no_project_fails_closed():
    class NoProjectApi(APIView):
        permission_classes = [IsProjectReviewer]

    request = APIRequestFactory().get("/x/")
    request.user = UserFactory()
    view = NoProjectApi()
    view.kwargs = {}
    with pytest.raises(ImproperlyConfigured):
        IsProjectReviewer().has_permission(view.initialize_request(request), view)


def test_strangers_get_the_same_answer_for_a_project_and_for_no_project():
    project = project_create(name="p", corpora=[CorpusFactory()], created_by=StaffFactory())
    client = _client(UserFactory())
    for suffix in ("", "members/", "reward-models/", "datasets/"):
        existing = client.get(f"/api/v1/projects/{project.pk}/{suffix}")
        missing = client.get(f"/api/v1/projects/{project.pk + 1000}/{suffix}")
        assert existing.status_code == missing.status_code == 404
        assert existing.json() == missing.json()


def test_one_membership_lookup_serves_the_permission_and_the_view(django_assert_num_queries):
    owner = UserFactory()
    project = project_create(name="p", corpora=[CorpusFactory()], created_by=StaffFactory())
    member_set(project=project, user_id=owner.pk, role="owner")
    client = _client(owner)
    # membership+project, rubric, corpora, constitution: as before the permission classes
    with django_assert_num_queries(4):
        assert client.get(f"/api/v1/projects/{project.pk}/").status_code == 200
