"""What an executor raises: every failure says whether trying again could help (the style
guide's rule). The runner retries `TransientError`s with backoff and never a `PermanentError`."""

from __future__ import annotations

from typing import Any


class ActionError(Exception):
    """An action that did not do its work. `reason` is what the history and Prefect's
    `prefect.automation.action.failed` event say; `details` go into that event's payload."""

    transient = False

    def __init__(self, reason: str, **details: Any) -> None:
        self.reason = reason
        self.details = details
        super().__init__(reason)


class PermanentError(ActionError):
    """Trying again gives the same answer: a 4xx, a missing block, a template that does not
    render, a refused address, no Prefect API configured, nothing to infer the target from."""


class TransientError(ActionError):
    """Worth another attempt: a connection error, a timeout, HTTP 5xx or 429."""

    transient = True


def for_status(status_code: int, reason: str, **details: Any) -> ActionError:
    """The error for an HTTP answer that is not a success (Prefect's rule: >= 300 failed)."""
    if status_code >= 500 or status_code == 429:
        return TransientError(reason, status_code=status_code, **details)
    return PermanentError(reason, status_code=status_code, **details)


class Deferred(Exception):
    """Not attempted: the target host already has as many attempts in progress in this worker
    as `ACTIONS_PER_HOST_CONCURRENCY` allows (so a hanging target holds only a few threads).
    The run goes back on the queue for a little later; it is not counted as an attempt."""
