"""The Django project: settings, URLs and the Celery app."""

# Loading the app here makes @shared_task bind to it in every process (web, worker, commands).
from webapp.celery import app as celery_app

__all__ = ["celery_app"]
