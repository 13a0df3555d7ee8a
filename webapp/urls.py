from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)

from core.api.errors import api_not_found
from webapp.health import healthz
from webapp.media import media_serve

# Swagger UI and ReDoc come from our own static files (drf-spectacular-sidecar), so the API's
# manual works offline and under the same Content-Security-Policy as every page: the split view
# serves Swagger's initialiser as a script file, ReDoc renders from its <redoc> element.


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("core.api.urls")),
    path("api/v1/", include("corpora.api.urls")),
    path("api/v1/", include("annotation.api.urls")),
    path("api/v1/", include("curation.api.urls")),
    path("api/v1/", include("rewrites.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api-schema"),
        name="api-docs",
    ),
    path(
        "api/redoc/",
        SpectacularRedocView.as_view(url_name="api-schema", template_name="webapp/redoc.html"),
        name="api-redoc",
    ),
    re_path(r"^api/(?P<path>[\s\S]*)$", api_not_found),
    # Images only for those who may see them; the proxy sends the bytes in production.
    path("media/<path:path>", media_serve, name="media"),
    path("", include("frontend.curation_urls")),
    path("", include("frontend.urls")),
]
