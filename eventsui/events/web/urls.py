"""The dashboard's HTML pages (and the JSON the feed page's script reads)."""

from django.urls import path

from eventsui.events.web import resource, views

urlpatterns = [
    path("", views.feed, name="feed"),
    path("events/rows", views.feed_rows_json, name="feed-rows"),
    path("events/histogram", views.feed_histogram, name="feed-histogram"),
    path("events/<uuid:event_id>/", views.event_detail, name="event-detail"),
    path("catalog/", views.catalog_page, name="catalog"),
    path("resources/", resource.resource_detail, name="resource"),
]
