"""The live feed's dispatcher: one per process, serving every live socket (`/ws/feed/` and
`/api/events/out`, both in consumers.py).

Ingest publishes every stored batch to the channel-layer group `events.live` (eventsui.live).
Adding each browser socket to that group would multiply Redis traffic and JSON parsing by the
number of open pages, so each server process has exactly one member of the group: the
`Dispatcher`. It parses each event once, evaluates every local subscriber's filter (the same
`EventFilter` the page and the API use, related-role filters included) and puts matches into
that subscriber's bounded queue. Each consumer drains its own queue and sends batches.

The dispatcher never waits for a subscriber: when a queue is full (a slow page) its backlog is
dropped and replaced by a GAP marker; the page then refills from the database by cursor. So a
slow browser never stalls ingestion or the other subscribers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

from channels.layers import get_channel_layer

from eventsui.events import schemas
from eventsui.events.filters import EventFilter
from eventsui.events.live import publish as live
from eventsui.events.web import rows as feed_rows

logger = logging.getLogger(__name__)

QUEUE_SIZE = 1000  # events waiting for one subscriber before it is told it has a gap
SEND_BATCH = 200  # events per websocket message at most
GROUP_REFRESH_SECONDS = 600  # group membership expires (channels' group_expiry): renew it
IDLE_STOP_SECONDS = 30.0  # stop listening this long after the last subscriber left


class Gap:
    """Queue marker: events were dropped here; the subscriber must refill from the store."""


GAP = Gap()


@dataclass(eq=False, slots=True)
class Item:
    """One published event, parsed once and shared by every subscriber it matches."""

    raw: str  # the ReceivedEvent JSON as published (what /api/events/out sends as is)
    event: schemas.ReceivedEvent
    _row_html: str | None = None

    @classmethod
    def parse(cls, raw: str) -> Item:
        # Measured: pydantic's Rust JSON validation beats json.loads + model_construct here
        # (about 18 µs against 30 µs per event), and it checks the shape on the way.
        return cls(raw=raw, event=schemas.ReceivedEvent.model_validate_json(raw))

    @property
    def id(self) -> UUID:
        return self.event.id

    def row_html(self) -> str:
        """The feed row's HTML (the feed page's row template) as a JSON string, rendered at
        most once per event in this process, however many pages it goes to."""
        if self._row_html is None:
            html = feed_rows.render_rows([feed_rows.row_for_model(self.event)])
            self._row_html = json.dumps(html, ensure_ascii=False)
        return self._row_html


class Subscription:
    def __init__(self, filter: EventFilter, key: str, queue_size: int | None = None):
        self.filter = filter
        self.key = key
        self.queue: asyncio.Queue[Item | Gap] = asyncio.Queue(queue_size or QUEUE_SIZE)
        self.dropped = 0

    def offer(self, item: Item) -> None:
        """Never blocks: on overflow the backlog is replaced by a GAP marker."""
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            while not self.queue.empty():
                self.queue.get_nowait()
                self.dropped += 1
            self.dropped += 1
            self.queue.put_nowait(GAP)

    async def batches(self, size: int = SEND_BATCH):
        """Yield lists of what is waiting (at least one entry), as soon as there is any."""
        while True:
            first = await self.queue.get()
            batch = [first]
            while len(batch) < size and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            yield batch


def filter_key(filter: EventFilter) -> str:
    """Subscribers with the same filter (time window aside) share one evaluation."""
    return filter.model_dump_json(exclude={"occurred", "order"})


class Dispatcher:
    """The process's single member of the `events.live` group (one per event loop)."""

    def __init__(self) -> None:
        self.groups: dict[str, tuple[EventFilter, list[Subscription]]] = {}
        self.channel: str | None = None
        self._task: asyncio.Task | None = None
        self._refresh: asyncio.Task | None = None
        self._ready: asyncio.Event | None = None
        self._idle: asyncio.TimerHandle | None = None
        self._layer = None

    @property
    def subscriber_count(self) -> int:
        return sum(len(subs) for _, subs in self.groups.values())

    async def subscribe(self, filter: EventFilter) -> Subscription:
        """Register a subscriber; once this returns, every event published is offered to it."""
        key = filter_key(filter)
        subscription = Subscription(filter, key)
        group = self.groups.setdefault(key, (filter, []))
        group[1].append(subscription)
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        await self._start()
        return subscription

    async def unsubscribe(self, subscription: Subscription) -> None:
        group = self.groups.get(subscription.key)
        if group is not None and subscription in group[1]:
            group[1].remove(subscription)
            if not group[1]:
                del self.groups[subscription.key]
        if not self.groups and self._task is not None:
            if IDLE_STOP_SECONDS <= 0:
                await self.stop()
            elif self._idle is None:
                loop = asyncio.get_running_loop()
                self._idle = loop.call_later(
                    IDLE_STOP_SECONDS, lambda: asyncio.ensure_future(self._stop_if_idle())
                )

    async def _stop_if_idle(self) -> None:
        self._idle = None
        if not self.groups:
            await self.stop()

    async def _start(self) -> None:
        if self._task is None or self._task.done():
            self._layer = get_channel_layer()
            if self._layer is None:
                raise RuntimeError("The live feed needs a channel layer (CHANNEL_LAYERS)")
            self._ready = asyncio.Event()
            self._task = asyncio.ensure_future(self._run())
        assert self._ready is not None
        ready = asyncio.ensure_future(self._ready.wait())
        done, _ = await asyncio.wait({ready, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if ready not in done:
            ready.cancel()
            self._task.result()  # raises why the dispatcher could not start

    async def stop(self) -> None:
        for task in (self._refresh, self._task):
            if task is not None and not task.done():
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopping anyway
                    pass
        self._task = self._refresh = None
        if self.channel is not None and self._layer is not None:
            try:
                await self._layer.group_discard(live.EVENTS_GROUP, self.channel)
            except Exception:  # noqa: BLE001 - the membership expires on its own
                logger.warning("could not leave the live group", exc_info=True)
            self.channel = None

    async def _run(self) -> None:
        layer = self._layer
        # The default prefix: channels-redis reads every process-local channel through one
        # shared list, so a channel with its own prefix would starve behind the consumers'.
        self.channel = await layer.new_channel()
        await layer.group_add(live.EVENTS_GROUP, self.channel)
        self._refresh = asyncio.ensure_future(self._keep_membership())
        self._ready.set()
        while True:
            try:
                message = await layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a Redis hiccup must not end the feed
                logger.exception("live feed: receive failed; retrying")
                await asyncio.sleep(1)
                continue
            if message.get("type") == live.MESSAGE_TYPE:
                self.dispatch(message.get("events") or [])

    async def _keep_membership(self) -> None:
        while True:
            await asyncio.sleep(GROUP_REFRESH_SECONDS)
            try:
                await self._layer.group_add(live.EVENTS_GROUP, self.channel)
            except Exception:  # noqa: BLE001
                logger.warning("live feed: could not renew group membership", exc_info=True)

    def dispatch(self, payloads: Iterable[str]) -> None:
        """Offer each event to every subscriber whose filter includes it. Never awaits."""
        groups = list(self.groups.values())
        if not groups:
            return
        for raw in payloads:
            try:
                item = Item.parse(raw)
            except ValueError:  # pydantic's ValidationError is a ValueError
                logger.warning("live feed: skipped an unreadable event")
                continue
            event = item.event
            for filter, subscriptions in groups:
                try:
                    matches = filter.includes(event, check_time=False)
                except Exception:  # noqa: BLE001 - one odd event must not stop the feed
                    logger.exception("live feed: filter failed on event %s", event.id)
                    continue
                if matches:
                    for subscription in subscriptions:
                        subscription.offer(item)


_dispatchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Dispatcher] = (
    weakref.WeakKeyDictionary()
)


def dispatcher() -> Dispatcher:
    """This process's dispatcher (one per event loop: daphne has one, tests have many)."""
    loop = asyncio.get_running_loop()
    found = _dispatchers.get(loop)
    if found is None:
        found = _dispatchers[loop] = Dispatcher()
    return found
