"""Prefect's run states, named once: each state's name, its state type, and how the UI shows it.

State types are Prefect's `prefect.client.schemas.objects.StateType`. State names are those of
Prefect's task-run state events (the 14 states of its task-run event reference); flow runs use
the same names (the state constructors of Prefect's `prefect.states`: `Late()` is a SCHEDULED
state named "Late", `Retrying()` a RUNNING state named "Retrying", and so on).

The event catalog, the demo traffic, the feed's state badges and the automation schema's
`change-flow-run-state` action all read them from here.
"""

from __future__ import annotations

from enum import StrEnum


class StateType(StrEnum):
    SCHEDULED = "SCHEDULED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    CRASHED = "CRASHED"
    PAUSED = "PAUSED"
    CANCELLING = "CANCELLING"


# State name -> its state type, in the order of Prefect's task-run event reference.
STATE_TYPES: dict[str, StateType] = {
    "Scheduled": StateType.SCHEDULED,
    "Late": StateType.SCHEDULED,
    "AwaitingConcurrencySlot": StateType.SCHEDULED,
    "AwaitingRetry": StateType.SCHEDULED,
    "Pending": StateType.PENDING,
    "Running": StateType.RUNNING,
    "Retrying": StateType.RUNNING,
    "Completed": StateType.COMPLETED,
    "Failed": StateType.FAILED,
    "Crashed": StateType.CRASHED,
    "Cancelled": StateType.CANCELLED,
    "Cancelling": StateType.CANCELLING,
    "Paused": StateType.PAUSED,
    "Suspended": StateType.PAUSED,
}

# State type -> the tone of its badge in the feed (the `.badge.<tone>` colors of app.css).
TONES: dict[StateType, str] = {
    StateType.COMPLETED: "ok",
    StateType.FAILED: "bad",
    StateType.CRASHED: "bad",
    StateType.RUNNING: "info",
    StateType.CANCELLING: "warn",
    StateType.PAUSED: "warn",
    StateType.CANCELLED: "neutral",
    StateType.SCHEDULED: "neutral",
    StateType.PENDING: "neutral",
}
