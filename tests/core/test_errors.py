"""One domain error, mapped to the API's error shape in one place and stored on failed jobs."""

from __future__ import annotations

import pytest
from rest_framework.response import Response

from core.api.errors import api_exception_handler
from core.errors import DomainError
from core.models import Job
from core.services.jobs import job_create, job_run


def test_handler_maps_a_domain_error_to_the_error_shape():
    # given
    error = DomainError("run_busy", "A run is training.", status=409, details={"run_id": 3})
    # when
    response = api_exception_handler(error, {})
    # then
    assert isinstance(response, Response) and response.status_code == 409
    assert response.data == {
        "error": {"code": "run_busy", "message": "A run is training.", "details": {"run_id": 3}}
    }


def test_handler_gives_empty_details_and_400_by_default():
    response = api_exception_handler(DomainError("validation_error", "Bad seed."), {})
    assert response.status_code == 400
    assert response.data["error"] == {
        "code": "validation_error",
        "message": "Bad seed.",
        "details": {},
    }


@pytest.mark.django_db
def test_a_job_that_raises_a_domain_error_stores_its_payload():
    job = job_create(kind=Job.Kind.CURATION, params={})

    def body(_job: Job) -> dict:
        raise DomainError("invalid_policy", "min_score must be a number.", details={"f": 1})

    finished = job_run(job.pk, body)
    assert finished.status == Job.Status.FAILED
    assert finished.error == {
        "code": "invalid_policy",
        "message": "min_score must be a number.",
        "details": {"f": 1},
    }
