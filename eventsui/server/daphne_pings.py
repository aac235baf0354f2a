"""Protocol pings that confirm storage, for Prefect's ingest websocket under daphne.

A Prefect client treats the pong to its ping as "the server has every event I sent before
it" and forgets them. Daphne (through autobahn) answers pings itself, as soon as they arrive,
while the frames before them may still be queued for the application: a pong would confirm
events that are not stored yet, and a crash or a closed connection would lose them.

`install()` teaches daphne one small ASGI extension. A consumer that accepts with
`"eventsui.confirm_pings": True` receives each ping as a `websocket.ping` message, in order
after the frames that preceded it, and answers with a `websocket.pong` message once it has
stored them. Other sockets keep daphne's immediate pongs.

The same sockets get flow control. Daphne reads a socket as fast as the client writes and
queues every frame for the application without bound, so a client that sends faster than the
store keeps up and never waits for a pong would grow the server's memory until it fails.
Once `EVENTS_IN_QUEUE_HIGH_WATER` frames wait in that queue, daphne stops reading the socket
(TCP then holds the client back) and reads again when no more than a quarter of that wait.
The bound is in frames, not bytes. While paused, daphne's own keepalive ping goes unanswered:
a store stalled for about 50 s (20 s idle + 30 s ping timeout) gets the socket dropped, and
the client resends what it had not seen confirmed.
"""

from __future__ import annotations

import logging

from django.conf import settings

logger = logging.getLogger(__name__)

CONFIRM_PINGS = "eventsui.confirm_pings"
RESUME_CHECK_SECONDS = 0.01


def _call_later(delay, function):  # replaced in tests by a fake clock
    from twisted.internet import reactor

    return reactor.callLater(delay, function)


def _high_water() -> int:
    return settings.EVENTS_IN_QUEUE_HIGH_WATER


def pause_if_behind(protocol) -> None:
    """Stop reading `protocol`'s socket while its application is this far behind."""
    if getattr(protocol, "_eventsui_paused", False):
        return
    high = _high_water()
    if protocol.application_queue.qsize() < high:
        return
    protocol._eventsui_paused = True
    protocol.transport.pauseProducing()
    logger.debug("%s: %d frames wait to be stored; reading paused", protocol.client_addr, high)
    low = high // 4

    def resume_when_drained() -> None:
        # A socket that is closing reads again at once: its close handshake must get through
        # (and resuming a transport that is already gone does nothing).
        if protocol.state != protocol.STATE_OPEN or protocol.application_queue.qsize() <= low:
            protocol._eventsui_paused = False
            protocol.transport.resumeProducing()
            return
        _call_later(RESUME_CHECK_SECONDS, resume_when_drained)

    _call_later(RESUME_CHECK_SECONDS, resume_when_drained)


def install() -> bool:
    try:
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError:  # served by another ASGI server: its own ping handling applies
        return False
    if getattr(WebSocketProtocol, "_eventsui_pings_installed", False):
        return True

    original_handle_reply = WebSocketProtocol.handle_reply
    original_on_ping = WebSocketProtocol.onPing
    original_on_message = WebSocketProtocol.onMessage

    def handle_reply(self, message):
        kind = message.get("type")
        if kind == "websocket.accept" and message.get(CONFIRM_PINGS):
            self._eventsui_confirm_pings = True
            message = {k: v for k, v in message.items() if k != CONFIRM_PINGS}
        elif kind == "websocket.pong":
            if self.state == self.STATE_OPEN:
                self.sendPong(message.get("bytes") or None)
            return None
        return original_handle_reply(self, message)

    def on_ping(self, payload):
        if (
            getattr(self, "_eventsui_confirm_pings", False)
            and not self.muted
            and self.state == self.STATE_OPEN
        ):
            self.application_queue.put_nowait({"type": "websocket.ping", "bytes": payload})
            return None
        return original_on_ping(self, payload)

    def on_message(self, payload, is_binary):
        original_on_message(self, payload, is_binary)
        if getattr(self, "_eventsui_confirm_pings", False) and not self.muted:
            pause_if_behind(self)

    WebSocketProtocol.handle_reply = handle_reply
    WebSocketProtocol.onPing = on_ping
    WebSocketProtocol.onMessage = on_message
    WebSocketProtocol._eventsui_pings_installed = True
    return True
