"""Automation API routes (Prefect's paths). Mounted under /api/."""

from django.urls import path

from automations.api import views as api
from automations.api.backtest import BacktestView

urlpatterns = [
    path("automations/", api.AutomationCreateView.as_view(), name="api-automations-create"),
    path("automations/filter", api.AutomationFilterView.as_view(), name="api-automations-filter"),
    path("automations/count", api.AutomationCountView.as_view(), name="api-automations-count"),
    path(
        "automations/related-to/<path:resource_id>",
        api.AutomationsRelatedToView.as_view(),
        name="api-automations-related-to",
    ),
    path("automations/backtest", BacktestView.as_view(), name="api-automations-backtest"),
    path("automations/<uuid:pk>", api.AutomationDetailView.as_view(), name="api-automation"),
    path("templates/validate", api.TemplateValidateView.as_view(), name="api-templates-validate"),
    # Deprecated in Prefect, still used by its UI.
    path("automations/templates/validate", api.TemplateValidateView.as_view()),
]
