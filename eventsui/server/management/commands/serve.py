"""Serve the dashboard and run the automation engine, in one process: the README's one command.

    manage.py serve                          # http://127.0.0.1:8000/, engine included
    manage.py serve --host 0.0.0.0 --port 8080
    manage.py serve --no-engine              # web only (run `manage.py run_automations` apart)

Daphne serves HTTP and websockets as `daphne eventsui.asgi:application` would; the engine
runs in a thread beside it (`run_automations`' loop). One process matters on the embedded
default: the in-memory channel layer does not cross processes, so the engine's
`prefect.automation.*` events reach the live feed only from inside the server's process.
With Redis and PostgreSQL, run web and engine processes separately (docs/deploy.md).
SIGTERM / Ctrl-C stops daphne and lets the engine finish its step.
"""

from __future__ import annotations

import asyncio
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Serve the dashboard (daphne) with the automation engine running in the same process."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--no-engine", action="store_true", help="serve only; run the engine elsewhere"
        )

    def handle(self, *args, **options) -> None:
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server

        from automations.engine.worker import Engine
        from automations.management.commands.run_automations import run_forever
        from eventsui.asgi import application
        from eventsui.events.live import publish

        stop = threading.Event()
        engine_thread: threading.Thread | None = None
        actions_thread: threading.Thread | None = None

        def start_engine() -> None:
            nonlocal engine_thread, actions_thread
            # Called by the reactor once running: publishes from the engine thread can be
            # handed to this loop from the first one on.
            publish.server_loop = asyncio.get_event_loop()
            if options["no_engine"]:
                return
            engine_thread = threading.Thread(
                target=run_forever, args=(Engine(), stop), name="automation-engine", daemon=True
            )
            engine_thread.start()
            # The action worker (`manage.py run_actions`) beside it, so the embedded default
            # runs its automations' actions too.
            from automations.actions.runner import ActionRunner

            actions_thread = threading.Thread(
                target=ActionRunner().run_forever, args=(stop,), name="actions", daemon=True
            )
            actions_thread.start()

        def stop_engine() -> None:
            # The loop is about to block in join(): a publish handed to it now would wait out
            # its timeout, so the engine's last step publishes nothing (its events are stored;
            # the feed's pages are closing anyway).
            publish.server_loop = None
            publish.stopping = True
            stop.set()
            if engine_thread is not None:
                engine_thread.join(timeout=10)
            if actions_thread is not None:
                actions_thread.join(timeout=15)

        from twisted.internet import reactor

        reactor.addSystemEventTrigger("before", "shutdown", stop_engine)
        host, port = options["host"], options["port"]
        engines = "without the engine" if options["no_engine"] else "with the automation engine"
        self.stdout.write(f"Serving http://{host}:{port}/ {engines} (Ctrl-C stops).")
        Server(
            application=application,
            endpoints=build_endpoint_description_strings(host=host, port=port),
            signal_handlers=True,
            ready_callable=lambda: reactor.callWhenRunning(start_engine),
            # Events may be 1.5 MB; daphne's default websocket limit is 1 MiB.
            websocket_max_message_size=settings.WEBSOCKET_MAX_MESSAGE_BYTES,
            websocket_max_frame_size=settings.WEBSOCKET_MAX_MESSAGE_BYTES,
            verbosity=1 if settings.DEBUG else 0,
        ).run()
        self.stdout.write("Stopped.")
