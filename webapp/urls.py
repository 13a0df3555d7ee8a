from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.authtoken.views import obtain_auth_token

from core.api.errors import api_not_found
from webapp.health import healthz
from webapp.media import media_serve

# Swagger UI loads its bundle and stylesheet from a CDN and has one inline <style>; its own
# initialiser is served as a script file (the split view), so script stays free of
# 'unsafe-inline' here too. Only this view gets the CDN in its policy.
SWAGGER_CDN = "https://cdn.jsdelivr.net"
api_docs = csp_update(
    {"script-src": [SWAGGER_CDN], "style-src": [SWAGGER_CDN], "img-src": [SWAGGER_CDN]}
)(SpectacularSwaggerSplitView.as_view(url_name="api-schema"))


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/auth/token/", obtain_auth_token, name="api-token"),
    path("api/v1/", include("core.api.urls")),
    path("api/v1/", include("corpora.api.urls")),
    path("api/v1/", include("annotation.api.urls")),
    path("api/v1/", include("curation.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", api_docs, name="api-docs"),
    re_path(r"^api/(?P<path>[\s\S]*)$", api_not_found),
    # Images only for those who may see them; the proxy sends the bytes in production.
    path("media/<path:path>", media_serve, name="media"),
    path("", include("frontend.curation_urls")),
    path("", include("frontend.urls")),
]
