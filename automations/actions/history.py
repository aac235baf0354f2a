"""Read side of action runs for the pages."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from django.db.models import OuterRef, Subquery

from automations.actions.models import ActionRun


def last_actions_failed(automation_ids: Iterable[UUID]) -> set[UUID]:
    """The automations whose latest firing (with actions) has a failed action. One query
    (index action_runs_automation)."""
    ids = list(automation_ids)
    if not ids:
        return set()
    latest_firing = (
        ActionRun.objects.filter(automation_id=OuterRef("automation_id"), manual=False)
        .order_by("-created")
        .values("firing_id")[:1]
    )
    return set(
        ActionRun.objects.filter(
            automation_id__in=ids, status=ActionRun.FAILED, firing_id=Subquery(latest_firing)
        ).values_list("automation_id", flat=True)
    )
