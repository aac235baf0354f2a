"""Feed page benchmark: server time of the feed page with single filters applied.

Runs in-process with Django's test client against the configured database (DATABASE_URL), so
the figure is the server's own time: URL routing, session, the keyset page query and the
template. The histogram (loaded by the page's script from /events/histogram) is timed
separately. Filter values (ids, roles, names) are taken from the newest stored events.

    DATABASE_URL=postgresql://... python bench/feed_page.py --user admin [--repeat 7]
    python bench/feed_page.py --url http://127.0.0.1:8000 --user admin --password PW  # over HTTP
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eventsui.settings")
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def single_filters() -> list[tuple[str, str]]:
    """(label, query string) pairs built from what is stored."""
    from eventsui.events.models import Event

    newest = list(Event.objects.order_by("-occurred", "-id")[:200])
    if not newest:
        raise SystemExit("No events stored: load some first (manage.py demo_events ...)")
    event = next((e for e in newest if e.related), newest[0])
    rel = event.related[0] if event.related else {}
    roles = {r.get("prefect.resource.role") for e in newest for r in e.related}
    role = "work-pool" if "work-pool" in roles else (sorted(r for r in roles if r) or ["flow"])[0]
    flow = next(
        (r for e in newest for r in e.related if r.get("prefect.resource.role") == "flow"), rel
    )
    kind = event.resource_id.rsplit(".", 1)[0] + "."
    name = (event.resource.get("prefect.resource.name") or "x")[:6]
    filters = [
        ("no filter (24h)", ""),
        ("event name exact", f"event={event.event}"),
        ("event prefix", "event=" + event.event.rsplit(".", 1)[0] + ".*"),
        ("event exclude", "event=!" + event.event.rsplit(".", 1)[0] + ".*"),
        ("resource id", f"resource={event.resource_id}"),
        ("resource id prefix", f"resource={kind}*"),
        ("resource label", f"resource=prefect.resource.name={name}*"),
        ("related role", f"related={role}"),
        (
            "related role + id",
            "related={}:{}".format(
                flow.get("prefect.resource.role", "flow"), flow.get("prefect.resource.id", "")
            ),
        ),
        ("any resource", "any={}".format(rel.get("prefect.resource.id", event.resource_id))),
        ("text", "q=" + (event.event.rsplit(".", 1)[-1] or "error")),
        ("last 15 min", "range=15m"),
        ("last 7 days", "range=7d"),
    ]
    return filters


stopped: set[str] = set()  # filters whose histogram was stopped at the time bound


def _time_filters(client, repeat: int) -> list[tuple[str, list[float], list[float]]]:
    """Time the page and its histogram per filter; `client` is Django's test Client or an
    httpx.Client (both have .get(path) and .status_code)."""
    results = []
    stopped.clear()
    for label, query in single_filters():
        page, histogram = [], []
        for _ in range(repeat):
            start = time.perf_counter()
            response = client.get("/?" + query)
            page.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, (label, response.status_code)
            start = time.perf_counter()
            hist = client.get("/events/histogram?" + query)
            histogram.append((time.perf_counter() - start) * 1000)
            # 503: stopped at EVENTS_QUERY_TIMEOUT_MS (the page says so); reported, not fatal
            assert hist.status_code in (200, 503), (label, hist.status_code)
            if hist.status_code == 503:
                stopped.add(label)
        results.append((label, page, histogram))
    return results


def measure_in_process(args) -> list[tuple[str, list[float], list[float]]]:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client

    user = get_user_model().objects.get(username=args.user)
    client = Client()
    client.force_login(user)
    return _time_filters(client, args.repeat)


def measure_http(args) -> list[tuple[str, list[float], list[float]]]:
    import django
    import httpx

    django.setup()
    url = args.url.rstrip("/")
    client = httpx.Client(base_url=url, timeout=60)
    login = client.get("/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
    client.post(
        "/login/",
        data={"username": args.user, "password": args.password, "csrfmiddlewaretoken": token},
        headers={"Referer": url + "/login/"},
    )
    return _time_filters(client, args.repeat)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="time over HTTP against a running server instead")
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", help="with --url")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--budget-ms", type=float, default=150.0)
    parser.add_argument(
        "--histograms",
        action="store_true",
        help="hold the histograms to the budget too (the embedded SQLite target: 500 ms)",
    )
    args = parser.parse_args()
    results = measure_http(args) if args.url else measure_in_process(args)
    from eventsui.events.models import Event

    print(f"events stored: ~{Event.objects.count():,}" if args.repeat else "")
    print(
        f"{'filter':<22} {'page median':>12} {'page max':>9} {'histogram median':>17}"
        f" {'histogram max':>14}"
    )
    worst = worst_histogram = 0.0
    for label, page, histogram in results:
        page_median = statistics.median(page[1:] or page)  # the first request warms caches
        histogram_median = statistics.median(histogram[1:] or histogram)
        worst = max(worst, page_median)
        worst_histogram = max(worst_histogram, histogram_median)
        note = "  (stopped at the time bound)" if label in stopped else ""
        print(
            f"{label:<22} {page_median:>10.1f}ms {max(page):>7.1f}ms {histogram_median:>15.1f}ms"
            f" {max(histogram):>12.1f}ms{note}"
        )
    ok = worst <= args.budget_ms and (not args.histograms or worst_histogram <= args.budget_ms)
    print(
        f"worst page median {worst:.1f} ms, worst histogram median {worst_histogram:.1f} ms"
        f" (budget {args.budget_ms:.0f} ms{', histograms too' if args.histograms else ''}):"
        f" {'PASS' if ok else 'FAIL'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
