"""Delete events older than the retention period, a bounded batch at a time.

    manage.py trim_events                 # older than EVENTS_RETENTION_DAYS (default 7)
    manage.py trim_events --days 2 --batch-size 10000

Each batch is its own short transaction (`services.delete_events_before`), so trimming a
large backlog never holds locks for long; run it from cron, e.g. hourly.
"""

from __future__ import annotations

import signal
import threading
from datetime import datetime, timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from eventsui.events import schemas, services
from eventsui.events.models import EventBatch


def trim(cutoff: datetime, *, batch_size: int, stop: threading.Event | None = None) -> int:
    """Delete every event older than `cutoff` (with its resource rows); returns how many.

    Batches that no automation engine consumed (none ran) go too once their events are
    gone, so the engine's queue cannot grow without bound."""
    total = 0
    while stop is None or not stop.is_set():
        deleted = services.delete_events_before(cutoff, batch_size=batch_size)
        if not deleted:
            break
        total += deleted
    EventBatch.objects.filter(created__lt=cutoff).delete()
    return total


class Command(BaseCommand):
    help = "Delete events (and their resource rows) older than the retention period."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=float,
            help=f"keep this many days (default EVENTS_RETENTION_DAYS={settings.EVENTS_RETENTION_DAYS})",
        )
        parser.add_argument("--batch-size", type=int, default=5000)

    def handle(self, *args, **options) -> None:
        days = options["days"] if options["days"] is not None else settings.EVENTS_RETENTION_DAYS
        if days <= 0:
            raise CommandError("--days must be positive")
        if options["batch_size"] <= 0:
            raise CommandError("--batch-size must be positive")
        cutoff = schemas.now_utc() - timedelta(days=days)

        stop = threading.Event()
        previous = {}
        if threading.current_thread() is threading.main_thread():
            # SIGTERM finishes the batch in progress; nothing is left half-deleted.
            previous = {
                signum: signal.signal(signum, lambda *_: stop.set())
                for signum in (signal.SIGTERM, signal.SIGINT)
            }
        try:
            deleted = trim(cutoff, batch_size=options["batch_size"], stop=stop)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        note = " (interrupted)" if stop.is_set() else ""
        self.stdout.write(
            f"Deleted {deleted:,} events older than {cutoff:%Y-%m-%d %H:%M:%S} UTC "
            f"({days:g} days){note}."
        )
