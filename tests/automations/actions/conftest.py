"""Helpers for action tests: an automation with actions, a firing made by the real engine
from an ingested event, and the queue's jobs run in the test's thread."""

from __future__ import annotations

import pytest

from automations import schemas
from automations.actions.models import ActionRun
from automations.actions.runner import ActionRunner
from automations.blocks import NotificationBlock, WebhookBlock
from automations.engine.worker import Engine
from automations.models import Automation
from eventsui.events import schemas as event_schemas
from eventsui.events import services
from tests.conftest import make_event

ANY_FAILURE = {"type": "event", "expect": ["prefect.flow-run.Failed"], "within": 0}


@pytest.fixture(autouse=True)
def _actions_settings(settings):
    # The local servers the tests call listen on loopback: allow it, and retry at once.
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.ACTIONS_RETRY_BASE_SECONDS = 0
    settings.ACTIONS_MAX_ATTEMPTS = 3
    settings.PREFECT_API_URL = ""
    return settings


def store(actions: list[dict], *, name: str = "watch", trigger: dict | None = None, **lists):
    core = schemas.AutomationCore.model_validate(
        {"name": name, "trigger": trigger or ANY_FAILURE, "actions": actions, **lists}
    )
    data = core.model_dump(mode="json")
    return Automation.objects.create(
        name=data["name"],
        trigger=data["trigger"],
        actions=data["actions"],
        actions_on_trigger=data["actions_on_trigger"],
        actions_on_resolve=data["actions_on_resolve"],
    )


def webhook(url: str, *, method: str = "POST", headers: dict | None = None) -> WebhookBlock:
    return WebhookBlock.objects.create(
        name=f"hook {url}", url=url, method=method, headers=headers or {}
    )


def notification(url: str) -> NotificationBlock:
    return NotificationBlock.objects.create(name=f"notify {url[:150]}", url=url)


def fire(**event) -> dict:
    """Ingest a failure event and let the real engine evaluate it (its firings enqueue)."""
    data = make_event("prefect.flow-run.Failed", **event)
    services.ingest_events([event_schemas.Event.model_validate(data)])
    engine = Engine()
    engine.refresh(force=True)
    while engine.run_once():
        pass
    return data


def run_jobs() -> int:
    return ActionRunner(threads=1).run_here()


def runs() -> list[ActionRun]:
    return list(ActionRun.objects.order_by("created", "action_index"))


def action_events(name: str = "prefect.automation.action."):
    from eventsui.events.models import Event

    return [
        e.to_schema() for e in Event.objects.filter(event__startswith=name).order_by("occurred")
    ]
