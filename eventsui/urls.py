"""Every HTTP route: each part's URL module, mounted here. Websocket routes: routing.py."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic.base import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

api_patterns = [
    path("", include("eventsui.events.api.urls")),
    path("", include("automations.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The schema needs credentials (SPECTACULAR_SETTINGS["SERVE_PERMISSIONS"]); its pages a login.
    path(
        "docs/",
        login_required(SpectacularSwaggerView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    path(
        "redoc/",
        login_required(SpectacularRedocView.as_view(url_name="api-schema")),
        name="api-redoc",
    ),
]

urlpatterns = [
    # Browsers ask for /favicon.ico on pages that name no icon (the admin, the API docs).
    path("favicon.ico", RedirectView.as_view(url=static("eventsui/favicon.svg"), permanent=True)),
    path("api/", include(api_patterns)),
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("automations/", include("automations.web.urls")),
    path("", include("eventsui.events.web.urls")),
]
