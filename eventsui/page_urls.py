"""The dashboard's HTML pages."""

from django.urls import path

from eventsui import views

urlpatterns = [
    path("", views.feed, name="feed"),
]
