"""Helpers for engine tests: automations stored as the builder stores them, events ingested
through the normal path, and an engine with a clock the test moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from automations import schemas
from automations.engine.worker import Engine
from automations.models import Automation
from eventsui.events import schemas as event_schemas
from eventsui.events import services
from tests.conftest import make_event


def store_automation(trigger: dict, *, name: str = "watch", enabled: bool = True) -> Automation:
    core = schemas.AutomationCore.model_validate(
        {"name": name, "enabled": enabled, "trigger": trigger, "actions": []}
    )
    data = core.model_dump(mode="json")
    return Automation.objects.create(
        name=data["name"], enabled=enabled, trigger=data["trigger"], actions=[]
    )


def ingest(*events: dict, received: datetime | None = None) -> None:
    services.ingest_events(
        [event_schemas.Event.model_validate(e) for e in events], received=received
    )


class Clock:
    def __init__(self, start: datetime) -> None:
        self.value = start

    def __call__(self) -> datetime:
        return self.value

    def advance(self, **delta) -> None:
        self.value += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def engine(clock) -> Engine:
    return Engine(now=clock)


def drain(engine: Engine) -> None:
    """Step until there is nothing left to do (refreshing the automations first)."""
    engine.refresh(force=True)
    for _ in range(50):
        if not engine.run_once():
            return
    raise AssertionError("the engine never went idle")


def event_at(clock: Clock, name: str, seconds: float = 0, **kw) -> dict:
    return make_event(name, occurred=clock() + timedelta(seconds=seconds), **kw)
