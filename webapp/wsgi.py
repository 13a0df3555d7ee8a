import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
application = get_wsgi_application()
# Import the URLconf, and with it every view, now rather than on the first request: that takes
# ~0.3 s, and gunicorn (preload_app) then does it once in its master instead of stalling the
# first requests of every worker after each start.
get_resolver().url_patterns  # noqa: B018
