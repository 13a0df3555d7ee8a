from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.static import serve
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authtoken.views import obtain_auth_token

from webapp.health import healthz


def media(request, path: str):
    # MEDIA_ROOT is read per request, not frozen at import, so it follows the live settings.
    return serve(request, path, document_root=settings.MEDIA_ROOT)


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/auth/token/", obtain_auth_token, name="api-token"),
    path("api/v1/", include("annotation.api.urls")),
    path("api/v1/", include("curation.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    # Images are served by Django itself in the embedded mode; production puts a proxy in front.
    path("media/<path:path>", media, name="media"),
    path("", include("frontend.curation_urls")),
    path("", include("frontend.urls")),
]
