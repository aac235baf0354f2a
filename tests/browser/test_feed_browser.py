"""The event feed in a real browser: login, filters, live rows, the event page, escaping."""

from __future__ import annotations

import base64
import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import expect

from eventsui.events import schemas, services
from tests.browser.conftest import PASSWORD, SHOTS, login
from tests.conftest import make_event, related

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

POOL = "prefect.work-pool." + str(uuid.UUID(int=7))
FLOW = "prefect.flow." + str(uuid.UUID(int=8))
XSS_NAME = "evil.<script>window.__pwned=1</script>"
XSS_IMG = '<img src=x onerror="window.__pwned=2">'


def ago(minutes: float) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


def store(*events: dict) -> None:
    # publish=False: this thread runs Playwright's event loop; live events go through the API.
    services.ingest_events([schemas.Event.model_validate(e) for e in events], publish=False)


def post_events(server, user, *events: dict) -> None:
    token = base64.b64encode(f"{user.username}:{PASSWORD}".encode()).decode()
    response = httpx.post(
        f"{server.url}/api/events",
        json=list(events),
        headers={"Authorization": f"Basic {token}"},
        timeout=10,
    )
    assert response.status_code == 204, response.text


def flow_run(state: str, *, pool: bool, minutes: float = 1, name: str = "nightly-etl") -> dict:
    rel = [related("flow", FLOW, **{"prefect.resource.name": "etl"})]
    if pool:
        rel.append(related("work-pool", POOL, **{"prefect.resource.name": "k8s-prod"}))
    return make_event(
        f"prefect.flow-run.{state}",
        resource_id=f"prefect.flow-run.{uuid.uuid4()}",
        related=rel,
        occurred=ago(minutes),
        **{"payload": {"intended": {"from": "PENDING", "to": state.upper()}}},
    ) | {
        "resource": {
            "prefect.resource.id": f"prefect.flow-run.{uuid.uuid4()}",
            "prefect.resource.name": name,
        }
    }


def feed_rows(page):
    return page.locator("#feed-list > li.feed-row")


def wait_live(page):
    expect(page.locator("#live-status")).to_have_class("live-status live", timeout=10_000)


def test_log_in_and_see_the_feed(page, user, server):
    store(flow_run("Completed", pool=True), make_event("prefect.worker.started", occurred=ago(3)))
    login(page, user.username)
    expect(page).to_have_url(f"{server.url}/")
    expect(feed_rows(page)).to_have_count(2)
    expect(feed_rows(page).first.locator(".badge")).to_have_text("Completed")
    expect(page.locator("#histogram-caption")).to_contain_text("2 events")
    wait_live(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "feed.png"))
    # Live rows arrive at the top, newest first, highlighted for a moment.
    live = [flow_run(state, pool=True, minutes=0) for state in ("Running", "Failed", "Completed")]
    post_events(server, user, *live)
    expect(feed_rows(page)).to_have_count(5)
    expect(page.locator("#feed-list > li.feed-row.fresh")).to_have_count(3)
    expect(page.locator("#histogram-caption")).to_contain_text("5 events")
    page.screenshot(path=str(SHOTS / "feed-live.png"))
    assert page.js_errors == []


def test_feed_redirects_anonymous_visitors_to_login(page, server):
    page.goto("/")
    expect(page).to_have_url(f"{server.url}/login/?next=/")


def test_filter_by_related_role_shows_only_matching_rows(logged_in_page, server):
    page = logged_in_page
    in_pool = flow_run("Running", pool=True, minutes=2, name="in-pool")
    no_pool = flow_run("Running", pool=False, minutes=1, name="no-pool")
    store(in_pool, no_pool)
    page.goto("/")
    expect(feed_rows(page)).to_have_count(2)
    page.fill("input[name=related][type=text]", "work-pool")
    page.click("button:has-text('Apply')")
    expect(page).to_have_url(f"{server.url}/?related=work-pool")
    expect(feed_rows(page)).to_have_count(1)
    expect(feed_rows(page).first).to_have_attribute("data-id", in_pool["id"])
    # A related chip filters by that resource in that role.
    page.goto("/")
    page.locator(f"#feed-list li[data-id='{no_pool['id']}'] a.chip", has_text="etl").click()
    expect(page).to_have_url(f"{server.url}/?related=flow:{FLOW}")
    expect(feed_rows(page)).to_have_count(2)
    expect(page.locator(".filter-chip")).to_contain_text("related")


def test_posted_event_appears_live_only_when_it_matches(logged_in_page, user, server):
    page = logged_in_page
    page.goto("/?related=work-pool")
    wait_live(page)
    page.evaluate("window.__notReloaded = true")
    expect(page.locator("#empty-state")).to_be_visible()
    matching = flow_run("Failed", pool=True, minutes=0)
    other = flow_run("Failed", pool=False, minutes=0)
    post_events(server, user, other, matching)
    row = page.locator(f"#feed-list li[data-id='{matching['id']}']")
    expect(row).to_be_visible(timeout=5_000)
    expect(row.locator(".badge")).to_have_text("Failed")
    expect(row.locator(".badge")).to_have_class("badge bad")
    expect(row.locator("time.when")).to_have_text(re.compile(r"^\d+ sec\. ago$"))
    # The row was rendered once for every page; its links add to this page's filter.
    expect(row.locator("a.chip", has_text="k8s-prod")).to_have_attribute(
        "href", f"?related=work-pool&related=work-pool:{POOL}"
    )
    page.wait_for_timeout(500)
    expect(page.locator(f"#feed-list li[data-id='{other['id']}']")).to_have_count(0)
    assert page.evaluate("window.__notReloaded") is True
    expect(page.locator("#empty-state")).to_be_hidden()


def test_pause_holds_new_events_and_counts_them(logged_in_page, user, server):
    page = logged_in_page
    page.goto("/")
    wait_live(page)
    page.click("#live-toggle")
    expect(page.locator("#live-status")).to_contain_text("Paused")
    first, second = (
        flow_run("Running", pool=True, minutes=0),
        flow_run("Completed", pool=True, minutes=0),
    )
    post_events(server, user, first, second)
    expect(page.locator("#live-pending")).to_have_text("2 new events waiting")
    expect(feed_rows(page)).to_have_count(0)
    page.click("#live-pending")
    expect(feed_rows(page)).to_have_count(2)
    expect(page.locator("#live-status")).to_contain_text("Live")


def test_older_rows_load_as_the_page_scrolls(logged_in_page, server):
    page = logged_in_page
    events = [make_event("prefect.worker.started", occurred=ago(i + 1)) for i in range(60)]
    store(*events)
    page.goto("/")
    wait_live(page)
    expect(feed_rows(page)).to_have_count(50)
    page.locator("#older-link").scroll_into_view_if_needed()
    expect(feed_rows(page)).to_have_count(60)
    expect(feed_rows(page).last).to_have_attribute("data-id", events[-1]["id"])
    expect(feed_rows(page).last.locator("time.when")).to_have_text("1 hr. ago")
    expect(page.locator("#older-end")).to_be_visible()
    expect(page.locator("#older-link")).to_be_hidden()
    assert page.js_errors == []


def test_without_javascript_rows_show_their_exact_time(browser, server, user):
    from tests.browser.conftest import login_cookie

    context = browser.new_context(base_url=server.url, java_script_enabled=False)
    try:
        context.add_cookies([login_cookie(user, server)])
        page = context.new_page()
        store(make_event("prefect.worker.started", occurred=ago(3)))
        page.goto("/")
        when = feed_rows(page).first.locator("time.when")
        expect(when).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC$"))
        expect(page.locator("#older-link")).to_be_hidden()
        page.screenshot(path=str(SHOTS / "feed-without-js.png"))
    finally:
        context.close()


def test_reconnecting_page_fills_the_gap(logged_in_page, user, server):
    page = logged_in_page
    store(flow_run("Running", pool=True, minutes=5))
    page.goto("/")
    wait_live(page)
    # Simulate the page missing events: stored while its socket was down (never published).
    missed = flow_run("Completed", pool=True, minutes=1)
    store(missed)
    # Break the socket; the page reconnects and refills from the newest row it showed.
    page.evaluate("window.eventsuiFeed.disconnect()")
    expect(page.locator("#live-status")).to_contain_text("Reconnecting")
    expect(page.locator(f"#feed-list li[data-id='{missed['id']}']")).to_be_visible(timeout=15_000)


def test_event_page_follows_link(logged_in_page, server):
    page = logged_in_page
    started = make_event(
        "prefect.worker.started",
        occurred=ago(10),
        related=[related("work-pool", POOL, **{"prefect.resource.name": "k8s-prod"})],
    )
    stopped = make_event("prefect.worker.stopped", occurred=ago(1), follows=started["id"])
    store(started, stopped)
    page.goto("/")
    page.locator(f"#feed-list li[data-id='{stopped['id']}'] a.title").click()
    expect(page).to_have_url(f"{server.url}/events/{stopped['id']}/")
    expect(page.locator(".catalog-note")).to_contain_text(
        "Emitted when a worker process shuts down"
    )
    page.click("#follows-link")
    expect(page).to_have_url(f"{server.url}/events/{started['id']}/")
    expect(page.locator(".follower-link")).to_have_attribute("href", f"/events/{stopped['id']}/")
    expect(page.locator(".role-group")).to_contain_text("work-pool")
    page.screenshot(path=str(SHOTS / "event.png"), full_page=True)


def test_hostile_event_values_are_shown_as_text_never_run(logged_in_page, user, server):
    page = logged_in_page
    page.add_init_script("window.__pwned = 0")
    hostile = make_event(
        XSS_NAME,
        occurred=ago(1),
        related=[related("tag", "prefect.tag." + XSS_IMG, **{"prefect.resource.name": XSS_IMG})],
        payload={"message": XSS_IMG, XSS_IMG: ["<script>window.__pwned=3</script>"]},
    ) | {
        "resource": {
            "prefect.resource.id": "prefect.x." + XSS_IMG,
            "prefect.resource.name": XSS_IMG,
            "evil": "<script>window.__pwned=4</script>",
        }
    }
    store(hostile)
    page.goto("/")
    wait_live(page)
    expect(page.locator(f"#feed-list li[data-id='{hostile['id']}'] .event-name")).to_have_text(
        XSS_NAME
    )
    # The same values arriving live: the row the socket sends is rendered by the server too.
    live = hostile | {"id": str(uuid.uuid4()), "occurred": datetime.now(UTC).isoformat()}
    post_events(server, user, live)
    live_row = page.locator(f"#feed-list li[data-id='{live['id']}']")
    expect(live_row.locator(".resource-name")).to_have_text(XSS_IMG)
    expect(live_row.locator(".chip").first).to_contain_text(XSS_IMG)
    assert page.locator("#feed-list img").count() == 0
    page.goto(f"/events/{hostile['id']}/")
    expect(page.locator("h1")).to_contain_text("Evil")
    expect(page.locator("#raw-json")).to_contain_text("<script>window.__pwned=4</script>")
    assert page.locator("main img").count() == 0
    assert page.evaluate("window.__pwned") == 0
