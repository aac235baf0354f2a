from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from eventsui import api

api_patterns = [
    path("events", api.EventsCreateView.as_view(), name="api-events"),
    path("events/filter", api.EventsFilterView.as_view(), name="api-events-filter"),
    path("events/filter/next", api.EventsFilterNextView.as_view(), name="api-events-next"),
    path("events/count-by/<str:countable>", api.EventsCountByView.as_view(), name="api-events-count"),
    path("admin/version", api.VersionView.as_view(), name="api-version"),
    path("health", api.HealthView.as_view(), name="api-health"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("", include("automations.api_urls")),
]

urlpatterns = [
    path("api/", include(api_patterns)),
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("automations/", include("automations.urls")),
    path("", include("eventsui.page_urls")),
]
