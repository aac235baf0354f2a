"""Websocket consumers of Prefect's event protocol.

`/api/events/in` (EventsInConsumer) is what a stock Prefect client opens to deliver events:
subprotocol `prefect`, an `auth` message answered with `auth_success`, then one event per text
frame. The server never answers per event; the client confirms delivery with protocol pings
(answered by daphne) and resends unconfirmed events after a reconnect, so duplicates are
normal and ignored by the store.

Frames are validated as they arrive and stored in batches (up to BATCH_SIZE events or
FLUSH_SECONDS of waiting, whichever comes first) so that one connection can carry thousands of
events per second. While a batch is being stored, reading continues into the next one; if the
store falls behind by MAX_BUFFERED events, reading pauses, which pushes back on the client
through TCP instead of growing memory.
"""

from __future__ import annotations

import asyncio
import json
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from pydantic import ValidationError

from eventsui import auth, live, schemas, services
from eventsui.daphne_pings import CONFIRM_PINGS
from eventsui.errors import error_list

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
FLUSH_SECONDS = 0.02
MAX_BUFFERED = 5000
AUTH_TIMEOUT_SECONDS = 10


def header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class PrefectProtocolConsumer(AsyncWebsocketConsumer):
    """The handshake shared by Prefect's event websockets: subprotocol, then `auth`."""

    user = None
    authenticated = False
    # Answer protocol pings only after handling what came before them (see daphne_pings).
    confirm_pings = False

    async def connect(self) -> None:
        authorization = header(self.scope, b"authorization")
        if authorization:
            self.user = await database_sync_to_async(auth.user_for_authorization)(authorization)
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
        await self.send(text_data=json.dumps({"type": "auth_failure", "reason": reason}))
        await self.close(code=1008)

    async def _handle_auth(self, text: str) -> None:
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
            token_user = await database_sync_to_async(auth.user_for_auth_message)(str(token))
            if token_user is None:
                await self._refuse("Invalid credentials")
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

    async def connect(self) -> None:
        self._buffer: list[schemas.Event] = []
        self._flush_lock = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._pending: set[asyncio.Task] = set()
        self.received = 0
        self.dropped = 0
        await super().connect()

    async def receive(self, text_data=None, bytes_data=None) -> None:
        data = text_data if text_data is not None else (bytes_data or b"").decode("utf-8", "replace")
        if not self.authenticated:
            await self._handle_auth(data)
            return
        try:
            event = schemas.Event.model_validate_json(data)
        except ValidationError as exc:
            self.dropped += 1
            errors = error_list(exc)
            logger.warning(
                "dropped a malformed event frame from %s: %s",
                getattr(self.user, "username", "?"),
                "; ".join(f"{e['field'] or 'event'}: {e['msg']}" for e in errors[:3]),
            )
            return
        self.received += 1
        self._buffer.append(event)
        if len(self._buffer) >= BATCH_SIZE:
            task = self._spawn_flush()
            if self._queued() >= MAX_BUFFERED:
                await task  # the store is behind: stop reading until it catches up
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(FLUSH_SECONDS, self._spawn_flush)

    async def websocket_ping(self, message) -> None:
        """A client's ping (see daphne_pings): answer only once everything before it is stored."""
        await self.flush_all()
        await self.base_send({"type": "websocket.pong", "bytes": message.get("bytes") or b""})

    async def flush_all(self) -> None:
        if self._buffer:
            self._spawn_flush()
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    def _queued(self) -> int:
        return len(self._buffer) + BATCH_SIZE * len(self._pending)

    def _spawn_flush(self) -> asyncio.Task:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._buffer = self._buffer, []
        task = asyncio.ensure_future(self._flush(batch))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return task

    async def _flush(self, batch: list[schemas.Event]) -> None:
        if not batch:
            return
        async with self._flush_lock:  # batches are stored in the order they arrived
            try:
                result = await database_sync_to_async(services.ingest_events)(batch, publish=False)
            except Exception:
                logger.exception("could not store %d events; the client will resend them", len(batch))
                await self.close(code=1011)
                return
        if result.payloads:
            await live.apublish_safely(result.payloads)

    async def disconnect(self, code) -> None:
        await super().disconnect(code)
        if hasattr(self, "_pending"):
            await self.flush_all()

