"""Action benchmarks: firings become webhook calls through the durable queue and real worker
processes (`manage.py run_actions`). DATABASE_URL names a migrated store of its own (it empties
the actions queue; PostgreSQL for several workers, SQLite works too).

rate: --rate firings/s for --seconds, each with one call-webhook action to a local server
  that answers in --answer-ms (50); --workers (2) worker processes. A firing is stored as the
  engine stores one (`Firing` rows and `enqueue_actions` in one transaction). Prints how many
  actions executed, and p50 / p95 / max from the firing being stored to its action executed.

hanging: --hanging (100) firings whose webhook never answers, together with --rate firings/s
  to the answering server for --seconds. Prints the longest attempt to the hanging target
  (bounded by the webhook timeout, 10 s) and the p95 of the other actions meanwhile (they must
  not wait behind the hanging ones: per-host slots, ACTIONS_PER_HOST_CONCURRENCY).

    DATABASE_URL=... python bench/actions.py rate --rate 100 --seconds 20
    DATABASE_URL=... python bench/actions.py hanging --hanging 100 --rate 20 --seconds 20
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eventsui.settings")
BENCH = "bench-actions"


def serve(answer_seconds: float | None) -> tuple[ThreadingHTTPServer, str]:
    """A webhook receiver answering after `answer_seconds` (None: never, until closed)."""
    stop = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if answer_seconds is None:
                stop.wait(120)
            else:
                time.sleep(answer_seconds)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 1024
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.stop = stop
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/hook"


def setup(url: str, name: str):
    from automations.blocks import WebhookBlock
    from automations.models import Automation

    block = WebhookBlock.objects.create(name=f"{BENCH} {uuid.uuid4().hex[:6]}", url=url)
    trigger = {"type": "event", "expect": [f"{BENCH}.{name}"], "within": 0, "posture": "Reactive"}
    return Automation.objects.create(
        name=f"{BENCH} {name}",
        enabled=False,  # the engine must not load it: this benchmark stores firings itself
        trigger=trigger,
        actions=[{"type": "call-webhook", "block_document_id": str(block.pk), "payload": "{}"}],
    )


def store_firings(automation, count: int) -> None:
    from django.db import transaction

    from automations.actions.enqueue import enqueue_actions
    from automations.engine.models import Firing
    from eventsui.events.schemas import now_utc

    now = now_utc()
    rows = [
        Firing(
            automation=automation,
            trigger_id=uuid.uuid4(),
            state=Firing.TRIGGERED,
            occurred=now,
        )
        for _ in range(count)
    ]
    with transaction.atomic():
        Firing.objects.bulk_create(rows)
        enqueue_actions(rows)


def produce(automations_rates: list[tuple[object, float]], seconds: float) -> None:
    """Store firings at the given rates, in 100 ms ticks."""
    start = time.monotonic()
    done = {id(a): 0 for a, _ in automations_rates}
    while (elapsed := time.monotonic() - start) < seconds:
        for automation, rate in automations_rates:
            due = int(rate * elapsed) - done[id(automation)]
            if due > 0:
                store_firings(automation, due)
                done[id(automation)] += due
        time.sleep(max(0.0, 0.1 - (time.monotonic() - start - elapsed)))


def start_workers(count: int, threads: int) -> list[subprocess.Popen]:
    env = dict(os.environ, OUTBOUND_ALLOWED_NETWORKS="127.0.0.1/32", LOG_LEVEL="WARNING")
    return [
        subprocess.Popen(
            [sys.executable, "manage.py", "run_actions", "--threads", str(threads)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]


def latencies(automation) -> tuple[int, int, list[float]]:
    from automations.actions.models import ActionRun

    runs = ActionRun.objects.filter(automation=automation)
    total = runs.count()
    done = list(runs.filter(status=ActionRun.EXECUTED).values_list("firing__created", "finished"))
    return total, len(done), sorted((f - c).total_seconds() for c, f in done)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(q * len(values)))]


def wait_done(automation, timeout: float) -> None:
    from automations.actions.models import ActionRun

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = ActionRun.objects.filter(automation=automation)
        if not runs.exclude(status__in=ActionRun.FINISHED).exists():
            return
        time.sleep(0.25)


def cleanup() -> None:
    """Remove what a run stored, its queue's jobs included (run it on a store of its own)."""
    from django_tasks_db.models import DBTaskResult

    from automations.blocks import WebhookBlock
    from automations.models import Automation

    DBTaskResult.objects.filter(queue_name="actions").delete()
    Automation.objects.filter(name__startswith=BENCH).delete()
    WebhookBlock.objects.filter(name__startswith=BENCH).delete()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["rate", "hanging"])
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--answer-ms", type=float, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--hanging", type=int, default=100)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings

    cleanup()
    answering, answering_url = serve(args.answer_ms / 1000)
    fine = setup(answering_url, "answering")
    hanging = None
    if args.mode == "hanging":
        stuck, stuck_url = serve(None)
        # Another name for the same loopback server would share its slots: use its own host.
        hanging = setup(stuck_url.replace("127.0.0.1", "localhost"), "hanging")
    workers = start_workers(args.workers, args.threads)
    try:
        time.sleep(3)  # the workers import Django
        if hanging is not None:
            store_firings(hanging, args.hanging)
        produce([(fine, args.rate)], args.seconds)
        wait_done(fine, 60)
        total, done, lat = latencies(fine)
        print(
            f"database {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[1]}, "
            f"{args.workers} workers x {args.threads} threads, webhook answering in "
            f"{args.answer_ms:.0f} ms, {args.rate:.0f} firings/s for {args.seconds:.0f} s"
        )
        print(
            f"answering target: {done}/{total} executed; firing -> executed "
            f"p50 {pct(lat, 0.5) * 1000:.0f} ms, p95 {pct(lat, 0.95) * 1000:.0f} ms, "
            f"max {lat[-1] * 1000 if lat else float('nan'):.0f} ms"
        )
        if hanging is not None:
            from automations.actions.models import ActionRun

            wait_done(hanging, 300)
            spans = [
                (r.finished - r.created).total_seconds()
                for r in ActionRun.objects.filter(automation=hanging).exclude(finished=None)
            ]
            statuses = list(
                ActionRun.objects.filter(automation=hanging).values_list("status", flat=True)
            )
            print(
                f"hanging target: {args.hanging} firings, {statuses.count('failed')} failed, "
                f"{statuses.count('executed')} executed, "
                f"{len(statuses) - statuses.count('failed') - statuses.count('executed')} unfinished;"
                f" longest attempt bounded by the {10:.0f} s timeout "
                f"(all {args.hanging} done {max(spans) if spans else float('nan'):.1f} s after "
                "they fired, attempts retried per ACTIONS_MAX_ATTEMPTS)"
            )
            stuck.stop.set()
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
        answering.shutdown()
        cleanup()


if __name__ == "__main__":
    main()
