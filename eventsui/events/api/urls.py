"""The events API (Prefect's paths). Mounted under /api/."""

from django.urls import path

from eventsui.events.api import views

urlpatterns = [
    path("events", views.EventsCreateView.as_view(), name="api-events"),
    path("events/filter", views.EventsFilterView.as_view(), name="api-events-filter"),
    path("events/filter/next", views.EventsFilterNextView.as_view(), name="api-events-next"),
    path(
        "events/count-by/<str:countable>",
        views.EventsCountByView.as_view(),
        name="api-events-count",
    ),
    path("admin/version", views.VersionView.as_view(), name="api-version"),
    path("health", views.HealthView.as_view(), name="api-health"),
]
