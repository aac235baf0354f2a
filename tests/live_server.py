"""A real daphne server process for tests that need one (HTTP and websockets)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial


@dataclass(frozen=True)
class LiveServer:
    url: str
    ws_url: str
    process: object


def start_server(django_db_blocker) -> LiveServer:
    from channels.testing.live import make_application
    from daphne.testing import DaphneProcess
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
    from django.db import connections

    with django_db_blocker.unblock():
        connections.close_all()  # the forked server must not share the parent's sockets
        process = DaphneProcess(
            "127.0.0.1", partial(make_application, static_wrapper=ASGIStaticFilesHandler)
        )
        process.daemon = True
        process.start()
        if not process.ready.wait(timeout=30):
            process.terminate()
            raise RuntimeError("daphne did not start within 30 s")
        if process.errors.qsize():
            raise RuntimeError(f"daphne failed: {process.errors.get()}")
    port = process.port.value
    return LiveServer(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", process)


def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    server.process.join(timeout=10)
