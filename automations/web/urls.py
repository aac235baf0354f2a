"""Automation pages (the form builder). Mounted at /automations/."""

from django.urls import path

from automations.web import actions, backtest, history, views

app_name = "automations"
urlpatterns = [
    path("", views.automation_list, name="list"),
    path("new/", views.automation_new, name="new"),
    path("backtest/", backtest.builder_backtest, name="backtest"),
    path("builder-json/", views.builder_json, name="builder-json"),
    path("import/", views.automation_import, name="import"),
    path("export/", views.automation_export_all, name="export-all"),
    path("blocks/", views.block_list, name="blocks"),
    path("blocks/<str:kind>/new/", views.block_edit, name="block-new"),
    path("blocks/<str:kind>/<uuid:pk>/", views.block_edit, name="block-edit"),
    path("blocks/notification/<uuid:pk>/test/", actions.block_test, name="block-test"),
    path("incidents/", actions.incident_list, name="incidents"),
    path("<uuid:pk>/", views.automation_detail, name="detail"),
    path("<uuid:pk>/history/", history.automation_history, name="history"),
    path("<uuid:pk>/run-now/", actions.run_actions_now, name="run-now"),
    path("<uuid:pk>/edit/", views.automation_edit, name="edit"),
    path("<uuid:pk>/enabled/", views.automation_toggle, name="toggle"),
    path("<uuid:pk>/duplicate/", views.automation_duplicate, name="duplicate"),
    path("<uuid:pk>/delete/", views.automation_delete, name="delete"),
    path("<uuid:pk>/export/", views.automation_export, name="export"),
]
