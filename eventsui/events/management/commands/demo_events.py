"""Fill the store with realistic Prefect 3 events, or keep emitting them live.

    manage.py demo_events --backfill 20000 --span 24h
    manage.py demo_events --live --rate 20 --duration 60
    manage.py demo_events --live --rate 50 --url http://127.0.0.1:8000 --user admin --password …

Backfill goes through `services.ingest_events`, like every other write. Live emission must reach
the feed of a server running in another process: with Redis (`REDIS_URL`) events ingested here
are published to every server; on the embedded default the channel layer is in memory and
crosses no process, so the command posts to the running server's /api/events instead (`--url`,
http://127.0.0.1:8000 by default), with a token it issues for the first superuser and revokes
when it stops. `--here` stores in this process whatever the channel layer (the feed of a server
elsewhere sees the events only after a reload on the embedded default).
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

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from eventsui.events import services
from eventsui.events.demo import simulator as demo

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
DEFAULT_URL = "http://127.0.0.1:8000"
TOKEN_NAME = "demo_events --live (revoked when it stops)"


def channel_layer_crosses_processes() -> bool:
    """False on the embedded default (the in-memory layer reaches only this process)."""
    backend = settings.CHANNEL_LAYERS.get("default", {}).get("BACKEND", "")
    return not backend.endswith("InMemoryChannelLayer")


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
        parser.add_argument(
            "--url",
            help="POST live events to <url>/api/events (default on the embedded in-memory "
            f"channel layer: {DEFAULT_URL}, the server `manage.py serve` starts)",
        )
        parser.add_argument(
            "--here",
            action="store_true",
            help="ingest live events in this process, even where no running server's feed sees "
            "them (the in-memory channel layer)",
        )
        parser.add_argument("--user", help="HTTP Basic user for --url")
        parser.add_argument("--password", help="HTTP Basic password for --url")
        parser.add_argument(
            "--token",
            help="API token for --url (default: one issued for the first superuser, revoked "
            "when the command stops)",
        )
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
        if options["here"] and options["url"]:
            raise CommandError("--here and --url exclude each other")
        issued = None
        if options["url"] is None and not options["here"] and not channel_layer_crosses_processes():
            # Events ingested here would be stored but published only inside this process:
            # the feed of the server (another process) would show them only after a reload.
            options["url"] = DEFAULT_URL
            self.stdout.write(
                "The channel layer is the embedded in-memory one, which does not cross "
                f"processes: sending through the running server's API ({DEFAULT_URL}) so its "
                "live feed shows the events (set REDIS_URL, or pass --here to store them here)."
            )
        if options["url"]:
            if not (options["token"] or options["user"]):
                issued = self._issue_token()
                options["token"] = issued[1]
            try:
                send = self._http_sender(options)
                self._check_server(options["url"])
                self._emit(options, send, options["url"].rstrip("/") + "/api/events")
            finally:
                if issued is not None:
                    issued[0].delete()
        else:
            where = (
                "this process's ingest path; the channel layer publishes them to every server"
                if channel_layer_crosses_processes()
                else "this process's ingest path only (--here): a server elsewhere shows them "
                "after a reload"
            )
            self._emit(options, self._ingest, where)

    def _issue_token(self):
        from django.contrib.auth import get_user_model

        from eventsui.events.models import ApiToken

        user = (
            get_user_model()
            .objects.filter(is_superuser=True, is_active=True)
            .order_by("pk")
            .first()
        )
        if user is None:
            raise CommandError(
                "No superuser to post as: run `manage.py bootstrap`, or pass --token or --user"
            )
        return ApiToken.issue(user, TOKEN_NAME)

    def _check_server(self, url: str) -> None:
        """Fail at once, saying what to do, when nothing answers at `url`."""
        try:
            with urllib.request.urlopen(url.rstrip("/") + "/login/", timeout=5) as response:
                response.read(0)
        except urllib.error.HTTPError:
            return  # something answers; the posts will say what is wrong
        except OSError as exc:
            raise CommandError(
                f"No server answers at {url} ({exc}). Start it with `manage.py serve` "
                "in another terminal, or pass --url."
            ) from None

    def _emit(self, options: dict, send, target: str) -> None:
        rate = options["rate"]
        source = demo.LiveSource(options["seed"])
        self.stdout.write(f"Emitting ~{rate:g} events/s to {target}; Ctrl-C stops.")

        # Small ticks keep the flow smooth at low rates; at high rates a tick carries a batch.
        tick = min(1.0, max(0.05, 1 / rate))
        started = time.monotonic()
        last_report = started
        sent = delivered = 0
        while not self.stop.is_set():
            elapsed = time.monotonic() - started
            if options["duration"] is not None and elapsed >= options["duration"]:
                break
            due = int(rate * elapsed) - sent
            if due > 0:
                events = source.take(due)
                try:
                    send(events)
                    delivered += len(events)
                except OSError as exc:  # the server is down or restarting: keep trying
                    self.stderr.write(f"Could not send {len(events)} events: {exc}")
                    self.stop.wait(1.0)
                sent += due
            now = time.monotonic()
            if now - last_report >= 10:
                self.stdout.write(f"  {delivered:,} events in {now - started:.0f} s")
                last_report = now
            self.stop.wait(tick)
        seconds = time.monotonic() - started
        lost = f" ({sent - delivered:,} could not be sent)" if sent > delivered else ""
        self.stdout.write(
            self.style.SUCCESS(f"Emitted {delivered:,} events in {seconds:.1f} s{lost}.")
        )

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
