"""Fill the store with realistic Prefect 3 events, or keep emitting them live.

    manage.py demo_events --backfill 20000 --span 24h
    manage.py demo_events --live --rate 20 --duration 60
    manage.py demo_events --live --rate 50 --url http://127.0.0.1:8000 --user admin --password …

Backfill and in-process live emission go through `services.ingest_events`, like every other
write; `--url` posts to /api/events instead, so the whole server path is exercised.
"""

from __future__ import annotations

import base64
import re
import signal
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser

from eventsui.events import services
from eventsui.events.demo import simulator as demo

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_span(value: str) -> timedelta:
    """'90s', '30m', '24h', '7d' (a bare number is seconds)."""
    match = _DURATION.match(value)
    if not match or float(match.group(1)) <= 0:
        raise CommandError(f"--span {value!r}: use a positive duration like 30m, 24h or 7d")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def backfill(
    count: int,
    span: timedelta,
    *,
    seed: int | None = None,
    batch_size: int = 1000,
    publish: bool = False,
    progress=None,
    stop: threading.Event | None = None,
) -> dict:
    """Store `count` demo events spread over the past `span`; returns counts and timings."""
    end = datetime.now(UTC)
    started = time.perf_counter()
    ingest_seconds = 0.0
    stored = received = 0
    batch: list = []
    sample: list = []

    def flush() -> None:
        nonlocal ingest_seconds, stored, received
        t0 = time.perf_counter()
        result = services.ingest_events(batch, publish=publish)
        ingest_seconds += time.perf_counter() - t0
        stored += result.stored
        received += result.received
        if len(sample) < 2000:
            sample.extend(batch[: 2000 - len(sample)])
        batch.clear()
        if progress:
            progress(received, count, time.perf_counter() - started)

    for event in demo.generate(count, end - span, end, seed):
        batch.append(event)
        if len(batch) >= batch_size:
            flush()
            if stop is not None and stop.is_set():
                break
    if batch:
        flush()
    return {
        "received": received,
        "stored": stored,
        "seconds": time.perf_counter() - started,
        "ingest_seconds": ingest_seconds,
        "stats": demo.size_stats(sample),
    }


class Command(BaseCommand):
    help = "Backfill demo events over a past time span, or emit them live at a steady rate."

    def add_arguments(self, parser: CommandParser) -> None:
        mode = parser.add_mutually_exclusive_group(required=True)
        mode.add_argument("--backfill", type=int, metavar="N", help="store N past events")
        mode.add_argument("--live", action="store_true", help="emit events as they happen")
        parser.add_argument("--span", default="24h", help="backfill over this past span (24h)")
        parser.add_argument("--batch-size", type=int, default=1000)
        parser.add_argument(
            "--publish",
            action="store_true",
            help="also publish backfilled events to the live feed (off: they are history)",
        )
        parser.add_argument("--rate", type=float, default=20.0, help="live events per second")
        parser.add_argument("--duration", type=float, help="stop live emission after N seconds")
        parser.add_argument("--url", help="POST to <url>/api/events instead of ingesting here")
        parser.add_argument("--user", help="HTTP Basic user for --url")
        parser.add_argument("--password", help="HTTP Basic password for --url")
        parser.add_argument("--token", help="API token for --url (instead of --user)")
        parser.add_argument("--seed", type=int, help="make the events reproducible")

    def handle(self, *args, **options) -> None:
        self.stop = threading.Event()
        previous = self._install_signal_handlers()
        try:
            if options["backfill"] is not None:
                self.backfill(options)
            else:
                self.live(options)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _install_signal_handlers(self) -> dict:
        """SIGTERM and Ctrl-C finish the current batch, then stop."""
        if threading.current_thread() is not threading.main_thread():
            return {}  # signals can only be handled in the main thread (tests call us anywhere)

        def request_stop(signum, frame) -> None:
            if self.stop.is_set():
                raise KeyboardInterrupt  # a second Ctrl-C: stop at once
            self.stop.set()
            self.stderr.write("Stopping after the current batch…")

        return {
            signum: signal.signal(signum, request_stop)
            for signum in (signal.SIGTERM, signal.SIGINT)
        }

    # -- backfill --------------------------------------------------------------------------------

    def backfill(self, options: dict) -> None:
        count = options["backfill"]
        if count <= 0:
            raise CommandError("--backfill must be a positive number of events")
        if options["batch_size"] <= 0:
            raise CommandError("--batch-size must be positive")
        span = parse_span(options["span"])
        self.stdout.write(f"Backfilling {count:,} demo events over the past {options['span']}…")
        every = max(count // 10, options["batch_size"])

        def progress(done: int, total: int, seconds: float) -> None:
            if done % every < options["batch_size"] or done == total:
                self.stdout.write(f"  {done:,}/{total:,} events ({done / seconds:,.0f} events/s)")

        result = backfill(
            count,
            span,
            seed=options["seed"],
            batch_size=options["batch_size"],
            publish=options["publish"],
            progress=progress,
            stop=self.stop,
        )
        seconds = result["seconds"]
        self.stdout.write(
            self.style.SUCCESS(
                f"Stored {result['stored']:,} of {result['received']:,} events in {seconds:.1f} s: "
                f"{result['received'] / seconds:,.0f} events/s overall, "
                f"{result['received'] / max(result['ingest_seconds'], 1e-9):,.0f} events/s "
                f"ingesting ({result['ingest_seconds']:.1f} s; the rest is generation and "
                f"validation)."
            )
        )
        self.stdout.write(f"Sample: {result['stats']}")

    # -- live ------------------------------------------------------------------------------------

    def live(self, options: dict) -> None:
        rate = options["rate"]
        if rate <= 0:
            raise CommandError("--rate must be positive")
        send = self._http_sender(options) if options["url"] else self._ingest
        source = demo.LiveSource(options["seed"])
        target = options["url"] or "this process's ingest path"
        self.stdout.write(f"Emitting ~{rate:g} events/s to {target}; Ctrl-C stops.")

        # Small ticks keep the flow smooth at low rates; at high rates a tick carries a batch.
        tick = min(1.0, max(0.05, 1 / rate))
        started = time.monotonic()
        last_report = started
        sent = 0
        while not self.stop.is_set():
            elapsed = time.monotonic() - started
            if options["duration"] is not None and elapsed >= options["duration"]:
                break
            due = int(rate * elapsed) - sent
            if due > 0:
                events = source.take(due)
                try:
                    send(events)
                except OSError as exc:  # the server is down or restarting: keep trying
                    self.stderr.write(f"Could not send {len(events)} events: {exc}")
                    self.stop.wait(1.0)
                sent += due
            now = time.monotonic()
            if now - last_report >= 10:
                self.stdout.write(f"  {sent:,} events in {now - started:.0f} s")
                last_report = now
            self.stop.wait(tick)
        seconds = time.monotonic() - started
        self.stdout.write(self.style.SUCCESS(f"Emitted {sent:,} events in {seconds:.1f} s."))

    def _ingest(self, events: list) -> None:
        services.ingest_events(events)

    def _http_sender(self, options: dict):
        url = options["url"].rstrip("/") + "/api/events"
        headers = {"Content-Type": "application/json"}
        if options["token"]:
            headers["Authorization"] = f"Bearer {options['token']}"
        elif options["user"]:
            if options["password"] is None:
                raise CommandError("--user needs --password")
            raw = f"{options['user']}:{options['password']}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        else:
            raise CommandError("--url needs --user and --password, or --token")

        def send(events: list) -> None:
            request = urllib.request.Request(
                url, data=demo.to_json(events), headers=headers, method="POST"
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    response.read()
            except urllib.error.HTTPError as exc:
                detail = exc.read()[:500].decode(errors="replace")
                if exc.code in {401, 403, 422}:  # retrying will not help
                    raise CommandError(f"POST {url} answered {exc.code}: {detail}") from None
                raise OSError(f"POST {url} answered {exc.code}: {detail}") from None

        return send
