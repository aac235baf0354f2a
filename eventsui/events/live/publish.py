"""Publishing stored events to the live feed through the channel layer.

`ingest_events` calls `publish` after its transaction commits. Events go out in chunks, each
chunk one message to one group, as JSON text (already serialized by the ingest path). Whatever
listens to the group (the browser feed, `/api/events/out`) filters them per subscriber.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

EVENTS_GROUP = "events.live"
MESSAGE_TYPE = "events.batch"
CHUNK = 100

# The web server's event loop, when another thread of the same process publishes (the
# automation engine inside `manage.py serve`). The in-memory channel layer's queues belong to
# that loop and are not thread-safe, so such publishes are handed to it.
server_loop: asyncio.AbstractEventLoop | None = None
stopping = False  # the server is shutting down: publish nothing more


def chunks(payloads: Sequence[str], size: int = CHUNK) -> list[list[str]]:
    return [list(payloads[i : i + size]) for i in range(0, len(payloads), size)]


async def apublish(payloads: Sequence[str]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    for chunk in chunks(payloads):
        await layer.group_send(EVENTS_GROUP, {"type": MESSAGE_TYPE, "events": chunk})


async def apublish_safely(payloads: Sequence[str]) -> None:
    """apublish, logging instead of raising: the events are stored whatever happens here."""
    try:
        await apublish(payloads)
    except Exception:  # noqa: BLE001 - the store is the source of truth; the feed catches up
        logger.exception("could not publish %d events to the live feed", len(payloads))


def publish(payloads: Sequence[str]) -> None:
    """Send stored events (ReceivedEvent JSON strings) to every live subscriber.

    A failure here never undoes the ingest: the events are stored, and a subscriber that
    missed them fills the gap from the database when it reconnects.
    """
    if stopping:
        return
    try:
        loop = server_loop
        if loop is not None and loop.is_running() and not _in_loop(loop):
            asyncio.run_coroutine_threadsafe(apublish_safely(payloads), loop).result(timeout=10)
        else:
            async_to_sync(apublish)(payloads)
    except Exception:  # noqa: BLE001 - the store is the source of truth; the feed catches up
        logger.exception("could not publish %d events to the live feed", len(payloads))


def _in_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
