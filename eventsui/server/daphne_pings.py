"""The daphne patch: pongs on Prefect's ingest websocket that confirm storage, and flow control.

Installed by `DaphnePingsPatch.install()` from eventsui/asgi.py; `manage.py check` fails when
it would not apply (eventsui/server/checks.py).
"""

from __future__ import annotations

import inspect
import logging

from django.conf import settings

logger = logging.getLogger(__name__)

# The ASGI extension a consumer asks for in its `websocket.accept` message.
CONFIRM_PINGS = "eventsui.confirm_pings"


class DaphnePingsPatch:
    """Wraps three methods of daphne's `WebSocketProtocol` (`handle_reply`, `onPing`,
    `onMessage`) for the sockets that ask for it.

    Why. A Prefect client treats the pong to its ping as "the server has every event I sent
    before it" and forgets them. Daphne (through autobahn) answers pings itself, as soon as
    they arrive, while the frames before them may still be queued for the application: a
    pong would confirm events that are not stored yet, and a crash or a closed connection
    would lose them. Daphne also reads a socket as fast as the client writes and queues every
    frame for the application without bound, so a client that sends faster than the store
    keeps up and never waits for a pong would grow the server's memory until it fails.

    What it replaces, for a consumer that accepts with `"eventsui.confirm_pings": True`
    (other sockets keep daphne's behaviour):
    - autobahn's `onPing`, which answers at once: the ping becomes a `websocket.ping`
      message, in order after the frames that preceded it; the consumer answers with a
      `websocket.pong` message once it has stored them (`handle_reply` sends it; daphne's own
      `handle_reply` knows no such message);
    - daphne's `onMessage`, which queues without bound: once `EVENTS_IN_QUEUE_HIGH_WATER`
      frames wait in that queue, the transport stops reading the socket (Twisted's
      `pauseProducing`; TCP then holds the client back) and reads again when no more than a
      quarter of that wait. The bound is in frames, not bytes. While paused, daphne's own
      keepalive ping goes unanswered: a store stalled for about 50 s (20 s idle + 30 s ping
      timeout) gets the socket dropped, and the client resends what it had not seen confirmed.

    Verified against daphne 4.2.3, autobahn 26.11.1 and Twisted 26.10.0 (the ranges pinned in
    pyproject.toml, which `manage.py check` compares with what is installed). Before widening
    a range, read those versions' `daphne.ws_protocol.WebSocketProtocol` and
    `autobahn.websocket.protocol.WebSocketProtocol` for the names in WRAPS and USES, and run
    tests/server and tests/events/test_ws_in_confirms_stored.py.

    The replacements below are static methods whose first argument is daphne's protocol:
    `install()` sets them on `WebSocketProtocol`, where they run as its methods.
    """

    # daphne's method -> (our replacement, the positional parameters it is called with).
    WRAPS = {
        "handle_reply": ("handle_reply", ("self", "message")),
        "onPing": ("on_ping", ("self", "payload")),
        "onMessage": ("on_message", ("self", "payload", "isBinary")),
    }
    # What the replacements use of the protocol class (instance attributes such as
    # `application_queue`, `transport` and `state` are set per connection, and covered by
    # tests/server/test_daphne_flow_control.py against a real daphne).
    USES = ("sendPong", "muted", "STATE_OPEN")
    RESUME_CHECK_SECONDS = 0.01

    originals: dict = {}  # daphne's methods, as they were before install()

    @classmethod
    def install(cls) -> bool:
        """Put the replacements on daphne's protocol (once); whether they are in place."""
        try:
            from daphne.ws_protocol import WebSocketProtocol
        except ImportError:  # served by another ASGI server: its own ping handling applies
            return False
        if not cls.originals:
            cls.originals = {name: getattr(WebSocketProtocol, name) for name in cls.WRAPS}
            for name, (replacement, _) in cls.WRAPS.items():
                setattr(WebSocketProtocol, name, getattr(cls, replacement))
        return cls.is_installed(WebSocketProtocol)

    @classmethod
    def is_installed(cls, protocol_class) -> bool:
        return all(
            getattr(protocol_class, name, None) is getattr(cls, replacement)
            for name, (replacement, _) in cls.WRAPS.items()
        )

    @classmethod
    def surface_errors(cls, protocol_class) -> list[str]:
        """What the patch needs of daphne's protocol and does not find (checks.py)."""
        problems = []
        for name, (_, parameters) in cls.WRAPS.items():
            method = cls.originals.get(name) or getattr(protocol_class, name, None)
            if not callable(method):
                problems.append(f"{protocol_class.__qualname__} has no method {name}()")
                continue
            found = tuple(inspect.signature(method).parameters)
            if len(found) != len(parameters):
                problems.append(
                    f"{protocol_class.__qualname__}.{name}{found} does not take the "
                    f"parameters {parameters} that the patch passes on"
                )
        for name in cls.USES:
            if not hasattr(protocol_class, name):
                problems.append(f"{protocol_class.__qualname__} has no attribute {name}")
        return problems

    @staticmethod
    def call_later(delay, function):  # replaced in tests by a fake clock
        from twisted.internet import reactor

        return reactor.callLater(delay, function)

    # -- the replacements (run as methods of daphne's WebSocketProtocol) ----------------------

    @staticmethod
    def handle_reply(protocol, message):
        kind = message.get("type")
        if kind == "websocket.accept" and message.get(CONFIRM_PINGS):
            protocol._eventsui_confirm_pings = True
            message = {k: v for k, v in message.items() if k != CONFIRM_PINGS}
        elif kind == "websocket.pong":
            if protocol.state == protocol.STATE_OPEN:
                protocol.sendPong(message.get("bytes") or None)
            return None
        return DaphnePingsPatch.originals["handle_reply"](protocol, message)

    @staticmethod
    def on_ping(protocol, payload):
        if (
            getattr(protocol, "_eventsui_confirm_pings", False)
            and not protocol.muted
            and protocol.state == protocol.STATE_OPEN
        ):
            protocol.application_queue.put_nowait({"type": "websocket.ping", "bytes": payload})
            return None
        return DaphnePingsPatch.originals["onPing"](protocol, payload)

    @staticmethod
    def on_message(protocol, payload, is_binary):
        DaphnePingsPatch.originals["onMessage"](protocol, payload, is_binary)
        if getattr(protocol, "_eventsui_confirm_pings", False) and not protocol.muted:
            DaphnePingsPatch.pause_if_behind(protocol)

    @staticmethod
    def pause_if_behind(protocol) -> None:
        """Stop reading `protocol`'s socket while its application is this far behind."""
        if getattr(protocol, "_eventsui_paused", False):
            return
        high = settings.EVENTS_IN_QUEUE_HIGH_WATER
        if protocol.application_queue.qsize() < high:
            return
        protocol._eventsui_paused = True
        protocol.transport.pauseProducing()
        logger.debug("%s: %d frames wait to be stored; reading paused", protocol.client_addr, high)
        low = high // 4

        def resume_when_drained() -> None:
            # A socket that is closing reads again at once: its close handshake must get
            # through (and resuming a transport that is already gone does nothing).
            if protocol.state != protocol.STATE_OPEN or protocol.application_queue.qsize() <= low:
                protocol._eventsui_paused = False
                protocol.transport.resumeProducing()
                return
            DaphnePingsPatch.call_later(DaphnePingsPatch.RESUME_CHECK_SECONDS, resume_when_drained)

        DaphnePingsPatch.call_later(DaphnePingsPatch.RESUME_CHECK_SECONDS, resume_when_drained)
