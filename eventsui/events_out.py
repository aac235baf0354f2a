"""`/api/events/out`: Prefect's subscriber websocket, served from the live feed's dispatcher.

After `auth` (PrefectProtocolConsumer's handshake) the client sends `{"type": "filter",
"filter": <EventFilter>, "backfill": true}`. The socket subscribes to the live feed first (so
nothing falls between backfill and live), sends the stored matching events of the last
BACKFILL_WINDOW oldest first (at most BACKFILL_LIMIT), then every new matching event, each as
`{"type": "event", "event": <ReceivedEvent>}`, skipping any it already sent. Where Prefect's
server drops events for a slow subscriber, this one refills the gap from the store.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from uuid import UUID

from channels.db import database_sync_to_async
from pydantic import ValidationError

from eventsui import feed, queries, schemas
from eventsui.consumers import PrefectProtocolConsumer
from eventsui.filters import EventFilter, EventOrder

BACKFILL_WINDOW = timedelta(minutes=15)  # Prefect's PREFECT_EVENTS_MAXIMUM_WEBSOCKET_BACKFILL
BACKFILL_LIMIT = 1000
GAP_REFILL_LIMIT = 5000


def read_after(event_filter: EventFilter, after: queries.Cursor | None, limit: int
               ) -> list[tuple[str, queries.Cursor]]:
    """Stored matching events after `after`, oldest first, as (ReceivedEvent JSON, cursor)."""
    ascending = event_filter.model_copy(
        update={
            "order": EventOrder.ASC,
            "occurred": event_filter.occurred.model_copy(update={"until": None}),
        }
    )
    rows: list[tuple[str, queries.Cursor]] = []
    while len(rows) < limit:
        page = queries.page_events(ascending, min(limit - len(rows), queries.PAGE_MAX), after=after)
        rows += [(e.to_schema().model_dump_json(), queries.Cursor.of(e)) for e in page.events]
        if page.next is None:
            break
        after = page.next
    return rows


class EventsOutConsumer(PrefectProtocolConsumer):
    subscription: feed.Subscription | None = None
    sender: asyncio.Task | None = None

    async def receive(self, text_data=None, bytes_data=None) -> None:
        data = text_data if text_data is not None else (bytes_data or b"").decode("utf-8", "replace")
        if not self.authenticated:
            await self._handle_auth(data)
            return
        if self.subscription is not None:
            return  # one filter per socket, as in Prefect; later messages are ignored
        try:
            message = json.loads(data)
        except ValueError:
            message = None
        if not isinstance(message, dict) or message.get("type") != "filter":
            await self.close(code=1002, reason="Expected 'filter' message")
            return
        try:
            event_filter = EventFilter.model_validate(message.get("filter") or {})
        except ValidationError as exc:
            await self.close(code=1002, reason=f"Invalid filter: {exc.errors()[0]['msg']}"[:120])
            return
        earliest = schemas.now_utc() - BACKFILL_WINDOW
        event_filter.occurred.since = max(event_filter.occurred.since, earliest)
        # Subscribe before reading the backfill so that no event falls between the two.
        self.subscription = await feed.dispatcher().subscribe(event_filter)
        sent: set[UUID] = set()
        last: queries.Cursor | None = None
        if message.get("backfill", True):
            rows = await database_sync_to_async(read_after)(event_filter, None, BACKFILL_LIMIT)
            for raw, cursor in rows:
                await self._send_event(raw)
                sent.add(cursor.id)
                last = cursor
        self.sender = asyncio.ensure_future(self._send_live(event_filter, sent, last))

    async def _send_event(self, raw: str) -> None:
        await self.send(text_data='{"type": "event", "event": ' + raw + "}")

    async def _send_live(self, event_filter: EventFilter, sent: set[UUID],
                         last: queries.Cursor | None) -> None:
        assert self.subscription is not None
        async for batch in self.subscription.batches():
            for entry in batch:
                if entry is feed.GAP:
                    # Events were dropped while this socket was slow: read them from the store.
                    rows = await database_sync_to_async(read_after)(
                        event_filter, last, GAP_REFILL_LIMIT
                    )
                    for raw, cursor in rows:
                        if cursor.id not in sent:
                            await self._send_event(raw)
                        last = cursor
                    sent = {cursor.id for _, cursor in rows}
                    continue
                if entry.id in sent:
                    sent.discard(entry.id)
                    continue
                await self._send_event(entry.raw)
                last = queries.Cursor(entry.event.occurred, entry.event.id)

    async def disconnect(self, code) -> None:
        await super().disconnect(code)
        if self.sender is not None:
            self.sender.cancel()
            self.sender = None
        if self.subscription is not None:
            await feed.dispatcher().unsubscribe(self.subscription)
            self.subscription = None
