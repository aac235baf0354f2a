"""Every websocket consumer: Prefect's ingest (`/api/events/in`) and subscriber
(`/api/events/out`) sockets, and the feed page's live rows (`/ws/feed/`).

`/api/events/in` (EventsInConsumer) is what a stock Prefect client opens to deliver events:
subprotocol `prefect`, an `auth` message answered with `auth_success`, then one event per text
frame. The server never answers per event; the client confirms delivery with protocol pings
and resends unconfirmed events after a reconnect, so duplicates are normal and ignored by the
store. Under daphne a pong is sent only once every event before the ping is stored
(eventsui.daphne_pings), so "confirmed" means "stored".

Frames are collected as they arrive and validated and stored in batches by one flusher task
per connection (storing starts at BATCH_SIZE waiting frames or after FLUSH_SECONDS); frames
that arrive meanwhile make the next batch, so batches grow with the load. If
EVENTS_IN_QUEUE_HIGH_WATER frames wait, the consumer stops taking frames until the store
catches up; daphne's queue in front of it then fills, and at the same mark daphne stops
reading the socket (eventsui.daphne_pings), so TCP holds the client back and the frames
held per socket stay bounded. A malformed frame is logged and dropped; the connection stays open.

Close codes. Autobahn (under daphne) only sends 1000 and 3000-4999: a consumer's
`close(code=1008)` raises inside daphne and leaves the socket open. Where Prefect's server
closes with an RFC 6455 code, these sockets close with 4000 plus that code:
- CLOSE_POLICY (4008, Prefect's 1008): the `auth` message was wrong, missing or late;
- CLOSE_PROTOCOL (4002, Prefect's 1002): `/api/events/out` got something other than a valid
  `filter` message;
- CLOSE_UNAVAILABLE (4011, 1011): the store could not take a batch (database down, pool
  exhausted). The socket is closed before any later ping is answered, so no pong confirms an
  unstored event; the client reconnects and resends what was not confirmed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta
from uuid import UUID

from asgiref.sync import sync_to_async
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.db import close_old_connections
from django.http import QueryDict
from pydantic import ValidationError

from eventsui.events import queries, schemas, serialization, services
from eventsui.events.api import auth
from eventsui.events.filters import EventFilter, EventOrder
from eventsui.events.live import publish as live
from eventsui.events.live.dispatcher import GAP, Subscription, dispatcher
from eventsui.events.web.feed_query import InvalidFeedQuery, filter_from_query
from eventsui.lib import throttle
from eventsui.lib.errors import error_list
from eventsui.server.daphne_pings import CONFIRM_PINGS

logger = logging.getLogger(__name__)

BATCH_SIZE = 350  # start storing once this many frames wait...
FLUSH_SECONDS = 0.03  # ...or once the first of them has waited this long
MAX_BATCH = 2000  # events per transaction at most
PARALLEL_BATCHES = 2  # batches of one connection being stored at once
AUTH_TIMEOUT_SECONDS = 10
CLOSE_PROTOCOL = 4002
CLOSE_POLICY = 4008
CLOSE_UNAVAILABLE = 4011


def close_reason(text: str) -> str:
    """A close frame's reason holds at most 123 bytes of UTF-8 (RFC 6455); autobahn refuses more."""
    return text.encode()[:123].decode(errors="ignore")


def header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


# Consumers that receive live events from their process's feed.Dispatcher (or none at all)
# name a channel layer that does not exist: channels then gives them no channel of their own,
# instead of a blocking channel-layer receive per socket that nothing ever sends to.
NO_CHANNEL_LAYER = "eventsui.no-channel-of-its-own"


class DispatcherSubscriber:
    """A socket fed by its process's Dispatcher (`/api/events/out`, `/ws/feed/`): its
    subscription and the task that sends what the subscription receives."""

    subscription: Subscription | None = None
    sender: asyncio.Task | None = None

    async def stop_sending(self) -> None:
        """Stop the sender and leave the dispatcher: on disconnect, or before a new filter."""
        if self.sender is not None:
            self.sender.cancel()
            self.sender = None
        if self.subscription is not None:
            await dispatcher().unsubscribe(self.subscription)
            self.subscription = None


class PrefectProtocolConsumer(AsyncWebsocketConsumer):
    """The handshake shared by Prefect's event websockets: subprotocol, then `auth`."""

    channel_layer_alias = NO_CHANNEL_LAYER
    user = None
    authenticated = False
    refused = False  # an auth failure closed (or is closing) the socket: ignore what follows
    # Answer protocol pings only after handling what came before them (see daphne_pings).
    confirm_pings = False

    async def connect(self) -> None:
        authorization = header(self.scope, b"authorization")
        if authorization:
            self.user = await database_sync_to_async(auth.user_for_authorization)(
                authorization, throttle.request_for_socket(self.scope)
            )
            if self.user is None:
                # Wrong credentials on the upgrade request itself: refuse the handshake (403).
                await self.close()
                return
        subprotocol = "prefect" if "prefect" in self.scope.get("subprotocols", []) else None
        accept = {"type": "websocket.accept", "subprotocol": subprotocol}
        if self.confirm_pings:
            accept[CONFIRM_PINGS] = True
        await self.base_send(accept)
        self._auth_deadline = asyncio.get_running_loop().call_later(
            AUTH_TIMEOUT_SECONDS, lambda: asyncio.ensure_future(self._auth_timeout())
        )

    async def _auth_timeout(self) -> None:
        if not self.authenticated:
            await self._refuse("Authentication timed out")

    async def _refuse(self, reason: str) -> None:
        if self.refused:
            return
        self.refused = True
        await self.send(text_data=json.dumps({"type": "auth_failure", "reason": reason}))
        await self.close(code=CLOSE_POLICY)

    async def _handle_auth(self, text: str) -> None:
        if self.refused:
            return
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        if not isinstance(message, dict) or message.get("type") != "auth":
            await self._refuse("Expected an auth message first")
            return
        token = message.get("token")
        user = self.user
        if token:
            request = throttle.request_for_socket(self.scope)
            token_user = await database_sync_to_async(auth.user_for_auth_message)(
                str(token), request
            )
            if token_user is None:
                locked = throttle.is_locked(request)
                await self._refuse(throttle.locked_message() if locked else "Invalid credentials")
                return
            user = user or token_user
        if user is None:
            await self._refuse("Credentials required: an API token or username:password")
            return
        self.user = user
        self.authenticated = True
        self._auth_deadline.cancel()
        await self.send(text_data=json.dumps({"type": "auth_success"}))
        await self.on_authenticated()

    async def on_authenticated(self) -> None:
        """Hook for subclasses."""

    async def disconnect(self, code) -> None:
        deadline = getattr(self, "_auth_deadline", None)
        if deadline is not None:
            deadline.cancel()


class EventsInConsumer(PrefectProtocolConsumer):
    """`/api/events/in`: Prefect clients deliver events here."""

    confirm_pings = True

    async def __call__(self, scope, receive, send) -> None:
        """Channels' consumer loop, minus what costs per frame and serves nothing here.

        The stock loop races the socket against a channel-layer inbox with a fresh task per
        message and hops to a database thread (close_old_connections) before every message;
        at thousands of frames a second that was most of this consumer's time. This socket
        joins no group, and its storing threads manage their own connections.
        """
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        try:
            while True:
                message = await receive()
                handler = getattr(self, get_handler_name(message), None)
                if handler is None:
                    raise ValueError(f"No handler for message type {message['type']}")
                await handler(message)
        except StopConsumer:
            pass

    async def connect(self) -> None:
        self._buffer: list[str] = []  # raw frames, validated when stored
        self._flusher: asyncio.Task | None = None
        self._full = asyncio.Event()  # BATCH_SIZE frames wait, or a ping wants them all now
        self._slots = asyncio.Semaphore(PARALLEL_BATCHES)
        self._storing: set[asyncio.Task] = set()
        self.received = 0
        self.dropped = 0
        # A batch could not be stored: no pong may be sent on this socket again (it closes).
        self.store_failed = False
        # Stop taking frames while this many wait; daphne then stops reading at the same mark.
        self._max_buffered = settings.EVENTS_IN_QUEUE_HIGH_WATER
        await super().connect()

    async def receive(self, text_data=None, bytes_data=None) -> None:
        data = (
            text_data if text_data is not None else (bytes_data or b"").decode("utf-8", "replace")
        )
        if not self.authenticated:
            await self._handle_auth(data)
            return
        if self.store_failed:
            return  # never confirmed: the client resends it on its next connection
        # Frames are validated in the storing thread, a batch at a time: the event loop only
        # collects them (parsing here too would make the two threads fight over the GIL).
        self.received += 1
        self._buffer.append(data)
        if len(self._buffer) >= BATCH_SIZE:
            self._full.set()
        self._start_flusher()
        if len(self._buffer) >= self._max_buffered:
            self._full.set()  # store what waits now, even below BATCH_SIZE (a small mark)
            await asyncio.shield(self._flusher)  # the store is behind: stop reading for now

    async def websocket_ping(self, message) -> None:
        """A client's ping (see daphne_pings): answer only once everything before it is stored."""
        await self.flush_all()
        if self.store_failed:
            return  # something before this ping is not stored: no pong, ever (see _store)
        await self.base_send({"type": "websocket.pong", "bytes": message.get("bytes") or b""})

    async def flush_all(self) -> None:
        """Return once every frame received so far is stored (or the socket was closed)."""
        while self._buffer or self._flusher is not None or self._storing:
            self._full.set()  # no waiting for more frames
            self._start_flusher()
            waiting = [*self._storing, *([self._flusher] if self._flusher else [])]
            await asyncio.gather(*(asyncio.shield(t) for t in waiting), return_exceptions=True)

    def _start_flusher(self) -> None:
        if self._flusher is None and self._buffer:
            self._flusher = asyncio.ensure_future(self._flush_loop())

    async def _flush_loop(self) -> None:
        """Hand what has arrived to the store, until nothing is waiting.

        Each batch waits for BATCH_SIZE frames or FLUSH_SECONDS, whichever comes first (a
        transaction per handful of events would cost more than the events). Up to
        PARALLEL_BATCHES batches are stored at once, on their own connections, so PostgreSQL
        works on one while Python validates the next; frames that arrive meanwhile join the
        next batch, so batches grow with the load.
        """
        try:
            while self._buffer:
                if len(self._buffer) < BATCH_SIZE and not self._full.is_set():
                    try:
                        await asyncio.wait_for(self._full.wait(), FLUSH_SECONDS)
                    except TimeoutError:
                        pass
                self._full.clear()
                await self._slots.acquire()
                batch, self._buffer = self._buffer[:MAX_BATCH], self._buffer[MAX_BATCH:]
                task = asyncio.ensure_future(self._store(batch))
                self._storing.add(task)
                task.add_done_callback(self._storing.discard)
        finally:
            self._flusher = None

    async def _store(self, batch: list[str]) -> None:
        try:
            result = await sync_to_async(self._parse_and_store, thread_sensitive=False)(batch)
        except Exception:
            logger.exception("could not store %d events; the client will resend them", len(batch))
            if not self.store_failed:
                self.store_failed = True
                self._buffer.clear()  # unconfirmed: the client resends them
                await self.close(code=CLOSE_UNAVAILABLE)
            return
        finally:
            self._slots.release()
        if result.payloads:
            await live.apublish_safely(result.payloads)

    def _parse_and_store(self, frames: list[str]) -> services.IngestResult:
        events, errors = schemas.parse_frames(frames)
        for _, exc in errors:
            self.dropped += 1
            logger.warning(
                "dropped a malformed event frame from %s: %s",
                getattr(self.user, "username", "?"),
                "; ".join(f"{e['field'] or 'event'}: {e['msg']}" for e in error_list(exc)[:3]),
            )
        close_old_connections()  # what database_sync_to_async does, on a pool thread
        try:
            return services.ingest_events_dropping_refused(events)
        finally:
            close_old_connections()

    async def disconnect(self, code) -> None:
        await super().disconnect(code)
        if hasattr(self, "_buffer"):
            await self.flush_all()


# `/api/events/out`: Prefect's subscriber websocket, served from the process's dispatcher.
#
# After `auth` (PrefectProtocolConsumer's handshake) the client sends `{"type": "filter",
# "filter": <EventFilter>, "backfill": true}`. The socket subscribes to the live feed first (so
# nothing falls between backfill and live), sends the stored matching events of the last
# BACKFILL_WINDOW oldest first (at most BACKFILL_LIMIT), then every new matching event, each as
# `{"type": "event", "event": <ReceivedEvent>}`, skipping any it already sent. Where Prefect's
# server drops events for a slow subscriber, this one refills the gap from the store.

BACKFILL_WINDOW = timedelta(minutes=15)  # Prefect's PREFECT_EVENTS_MAXIMUM_WEBSOCKET_BACKFILL
BACKFILL_LIMIT = 1000
GAP_REFILL_LIMIT = 5000


def read_after(
    event_filter: EventFilter, after: queries.Cursor | None, limit: int
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
        page = queries.page_events(
            ascending, min(limit - len(rows), queries.PAGE_MAX), after=after, as_json=True
        )
        rows += [(serialization.stored_event_json(e), queries.Cursor.of(e)) for e in page.events]
        if page.next is None:
            break
        after = page.next
    return rows


class EventsOutConsumer(DispatcherSubscriber, PrefectProtocolConsumer):
    async def receive(self, text_data=None, bytes_data=None) -> None:
        data = (
            text_data if text_data is not None else (bytes_data or b"").decode("utf-8", "replace")
        )
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
            await self.close(code=CLOSE_PROTOCOL, reason="Expected 'filter' message")
            return
        try:
            event_filter = EventFilter.model_validate(message.get("filter") or {})
        except ValidationError as exc:
            await self.close(code=CLOSE_PROTOCOL, reason=close_reason(f"Invalid filter: {exc}"))
            return
        earliest = schemas.now_utc() - BACKFILL_WINDOW
        event_filter.occurred.since = max(event_filter.occurred.since, earliest)
        # Subscribe before reading the backfill so that no event falls between the two.
        self.subscription = await dispatcher().subscribe(event_filter)
        sent: set[UUID] = set()
        last: queries.Cursor | None = None
        if message.get("backfill", True):
            try:
                rows = await database_sync_to_async(read_after)(event_filter, None, BACKFILL_LIMIT)
            except Exception:
                logger.exception("could not read the backfill of /api/events/out")
                await self.close(code=CLOSE_UNAVAILABLE)
                return
            for raw, cursor in rows:
                await self._send_event(raw)
                sent.add(cursor.id)
                last = cursor
        self.sender = asyncio.ensure_future(self._send_live(event_filter, sent, last))
        self.sender.add_done_callback(self._sender_done)

    def _sender_done(self, task: asyncio.Task) -> None:
        """A live sender that fails closes its socket (the client reconnects with backfill)
        instead of leaving it open and silent."""
        if task.cancelled() or task.exception() is None:
            return
        logger.error("the live sender of /api/events/out failed", exc_info=task.exception())
        asyncio.ensure_future(self.close(code=CLOSE_UNAVAILABLE))

    async def _send_event(self, raw: str) -> None:
        await self.send(text_data='{"type": "event", "event": ' + raw + "}")

    async def _send_live(
        self, event_filter: EventFilter, sent: set[UUID], last: queries.Cursor | None
    ) -> None:
        assert self.subscription is not None
        async for batch in self.subscription.batches():
            for entry in batch:
                if entry is GAP:
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
        await self.stop_sending()


# `/ws/feed/`
class FeedConsumer(DispatcherSubscriber, AsyncWebsocketConsumer):
    """`/ws/feed/`: the feed page's live rows.

    Protocol (JSON text frames):
    - page -> server `{"type": "filter", "query": "<the page's query string>"}` (again to
      change it); the server answers `{"type": "subscribed"}` or `{"type": "error",
      "messages": [...]}`.
    - server -> page `{"type": "events", "rows": ["<li ...>", ...]}` oldest first: each row is
      the HTML of the feed's row template (feed_rows.render_rows), rendered once per event by
      the Dispatcher's Item, not per socket; and `{"type": "gap"}` when events were dropped:
      the page refills from /events/rows by cursor.
    """

    channel_layer_alias = NO_CHANNEL_LAYER  # rows come from the Dispatcher

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close()  # before accept: the handshake is refused (403)
            return
        await self.accept()

    async def receive(self, text_data=None, bytes_data=None) -> None:
        try:
            message = json.loads(text_data or "")
        except ValueError:
            message = None
        if not isinstance(message, dict) or message.get("type") != "filter":
            await self.send_json({"type": "error", "messages": ["Expected a filter message"]})
            return
        query = str(message.get("query") or "").lstrip("?")
        try:
            event_filter = filter_from_query(QueryDict(query))
        except InvalidFeedQuery as exc:
            await self.send_json({"type": "error", "messages": exc.messages})
            return
        await self.stop_sending()
        self.subscription = await dispatcher().subscribe(event_filter)
        self.sender = asyncio.ensure_future(self._send_forever(self.subscription))
        await self.send_json({"type": "subscribed"})

    async def _send_forever(self, subscription: Subscription) -> None:
        async for batch in subscription.batches():
            rows: list[str] = []
            for entry in batch:
                if entry is GAP:
                    await self._send_rows(rows)
                    rows = []
                    await self.send(text_data='{"type": "gap"}')
                else:
                    rows.append(entry.row_html())
            await self._send_rows(rows)

    async def _send_rows(self, rows: list[str]) -> None:
        if rows:  # each row is a JSON string already: join them, never encode again
            await self.send(text_data='{"type": "events", "rows": [' + ",".join(rows) + "]}")

    async def send_json(self, content: dict) -> None:
        await self.send(text_data=json.dumps(content))

    async def disconnect(self, code) -> None:
        await self.stop_sending()
