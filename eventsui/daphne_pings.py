"""Protocol pings that confirm storage, for Prefect's ingest websocket under daphne.

A Prefect client treats the pong to its ping as "the server has every event I sent before
it" and forgets them. Daphne (through autobahn) answers pings itself, as soon as they arrive,
while the frames before them may still be queued for the application: a pong would confirm
events that are not stored yet, and a crash or a closed connection would lose them.

`install()` teaches daphne one small ASGI extension. A consumer that accepts with
`"eventsui.confirm_pings": True` receives each ping as a `websocket.ping` message, in order
after the frames that preceded it, and answers with a `websocket.pong` message once it has
stored them. Other sockets keep daphne's immediate pongs.
"""

from __future__ import annotations

CONFIRM_PINGS = "eventsui.confirm_pings"


def install() -> bool:
    try:
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError:  # served by another ASGI server: its own ping handling applies
        return False
    if getattr(WebSocketProtocol, "_eventsui_pings_installed", False):
        return True

    original_handle_reply = WebSocketProtocol.handle_reply
    original_on_ping = WebSocketProtocol.onPing

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

    WebSocketProtocol.handle_reply = handle_reply
    WebSocketProtocol.onPing = on_ping
    WebSocketProtocol._eventsui_pings_installed = True
    return True
