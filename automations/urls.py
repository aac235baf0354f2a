"""Automation pages (the form builder). Mounted at /automations/."""

from django.urls import path

from automations import views

app_name = "automations"
urlpatterns = [
    path("", views.automation_list, name="list"),
]
