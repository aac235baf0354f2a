"""A stock Prefect subscriber follows /api/events/out on a real daphne server."""

from __future__ import annotations

import asyncio
import threading

import pytest

from tests.browser.conftest import PASSWORD
from tests.browser.test_feed_browser import flow_run, post_events
from tests.conftest import make_event

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_prefect_event_subscriber_receives_matching_events(server, user):
    from prefect.events.clients import PrefectEventSubscriber
    from prefect.events.filters import EventFilter, EventNameFilter
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    matching = flow_run("Completed", pool=True, minutes=0)
    other = make_event("prefect.worker.started")
    received: list[str] = []
    errors: list[BaseException] = []

    async def follow() -> None:
        event_filter = EventFilter(event=EventNameFilter(prefix=["prefect.flow-run."]))
        with temporary_settings(
            {
                PREFECT_API_URL: f"{server.url}/api",
                PREFECT_API_AUTH_STRING: f"{user.username}:{PASSWORD}",
            }
        ):
            async with PrefectEventSubscriber(filter=event_filter, reconnection_attempts=0) as sub:
                await asyncio.to_thread(post_events, server, user, other, matching)
                async for event in sub:
                    received.append(str(event.id))
                    break

    def run() -> None:
        try:
            asyncio.run(asyncio.wait_for(follow(), timeout=20))
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    # Its own thread and event loop: Playwright's sync API may own this thread's loop.
    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    assert not errors, errors
    assert received == [matching["id"]]
