from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from core.errors import DomainError
from core.models import Job


def job_get_visible(*, job_id: int, user: AbstractBaseUser | AnonymousUser) -> Job:
    """A job its creator or staff may see; anyone else gets the same 404 as for a missing job."""
    job = Job.objects.filter(pk=job_id).first()
    if job is None or (not user.is_staff and job.created_by_id != user.pk):
        raise DomainError("not_found", "Not found.", status=404)
    return job
