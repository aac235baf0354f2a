"""The automation engine as a long-running worker.

    manage.py run_automations             # until SIGTERM / Ctrl-C
    manage.py run_automations --once      # one step (tests, cron-style runs)

Each step (`Engine.run_once`) is one or two short transactions; SIGTERM lets the step in
progress commit and then stops, so a stop never leaves work half-done (and a `kill -9`
rolls back the step, which the next engine takes again). Run as many as you like against
one PostgreSQL database (docs/deploy.md); on SQLite run one.
"""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from automations.engine.worker import Engine


def run_forever(engine: Engine, stop: threading.Event) -> None:
    """Step until `stop` is set, sleeping while idle (never past the next window's end)."""
    engine.refresh(force=True)
    while not stop.is_set():
        close_old_connections()
        try:
            did = engine.run_once()
        except Exception:  # a failed step rolled back: log it, wait a moment, try again
            import logging

            logging.getLogger("automations.engine").exception("engine step failed")
            stop.wait(1.0)
            continue
        if not did:
            stop.wait(engine.sleep_seconds())


class Command(BaseCommand):
    help = "Run the automation engine: evaluate triggers on every stored event, record firings."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="run one step and exit")

    def handle(self, *args, **options) -> None:
        engine = Engine()
        if options["once"]:
            engine.refresh(force=True)
            did = engine.run_once()
            self.stdout.write("did work" if did else "nothing to do")
            return
        stop = threading.Event()
        previous = {
            signum: signal.signal(signum, lambda *_: stop.set())
            for signum in (signal.SIGTERM, signal.SIGINT)
        }
        self.stdout.write("Automation engine running (SIGTERM or Ctrl-C stops it).")
        try:
            run_forever(engine, stop)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        self.stdout.write(
            f"Automation engine stopped: {engine.stats['events']:,} events evaluated, "
            f"{engine.stats['firings']:,} firings."
        )
