"""Automation API routes (Prefect's paths). Mounted under /api/."""

urlpatterns: list = []
