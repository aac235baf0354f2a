"""The feed page, its JSON endpoints, the event page and the catalog (server side)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext

from eventsui.events import catalog, schemas, services
from eventsui.events.filters import EventFilter
from eventsui.events.web import rows as feed_rows
from eventsui.events.web.feed_query import FeedQuery, InvalidFeedQuery, filter_from_query
from tests.conftest import make_event, related

FLOW_X = "prefect.flow." + str(uuid.UUID(int=1))
POOL = "prefect.work-pool." + str(uuid.UUID(int=9))
XSS = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'


def row_ids(html: str) -> list[str]:
    """The event ids of the feed rows in an HTML fragment, in order."""
    return re.findall(r'<li class="feed-row" data-id="([^"]+)"', html)


def row_cursors(html: str) -> list[str]:
    return re.findall(r'data-cursor="([^"]+)"', html)


def ingest(*events: dict) -> None:
    services.ingest_events([schemas.Event.model_validate(e) for e in events], publish=False)


def parsed(event: dict) -> schemas.ReceivedEvent:
    return schemas.ReceivedEvent.model_validate(event)


def flow_run(state: str = "Completed", *, flow: str = FLOW_X, pool: bool = False, **kw) -> dict:
    rel = [related("flow", flow, **{"prefect.resource.name": "etl"})]
    if pool:
        rel.append(related("work-pool", POOL, **{"prefect.resource.name": "k8s"}))
    return make_event(
        f"prefect.flow-run.{state}",
        resource_id=f"prefect.flow-run.{uuid.uuid4()}",
        related=rel,
        **kw,
    )


@pytest.fixture
def logged_in(client, viewer):
    client.force_login(viewer)
    return client


# -- the query string -> EventFilter -----------------------------------------------------------


def q(text: str) -> EventFilter:
    return filter_from_query(QueryDict(text))


def test_query_event_names_prefixes_and_exclusions():
    f = q("event=prefect.flow-run.*&event=!prefect.flow-run.Pending")
    assert f.includes(parsed(flow_run("Failed")))
    assert not f.includes(parsed(flow_run("Pending")))
    assert not f.includes(parsed(make_event("prefect.worker.started")))
    mixed = q("event=prefect.worker.started&event=prefect.flow-run.*")  # alternatives
    assert mixed.includes(parsed(make_event("prefect.worker.started")))
    assert mixed.includes(parsed(flow_run()))


def test_query_resource_ids_prefixes_and_labels_with_globs():
    worker = parsed(make_event(resource_id="prefect.worker.process.alpha"))
    assert q("resource=prefect.worker.process.alpha").includes(worker)
    assert q("resource=prefect.worker.*").includes(worker)
    assert not q("resource=prefect.flow-run.*").includes(worker)
    assert q("resource=prefect.resource.name=al*").includes(worker)
    assert not q("resource=prefect.resource.name=!alpha").includes(worker)
    assert q("resource=prefect.flow-run.*&resource=prefect.worker.process.alpha").includes(worker)


def test_query_related_by_role_and_by_role_and_id():
    in_pool = parsed(flow_run(pool=True))
    no_pool = parsed(flow_run())
    assert q("related=work-pool").includes(in_pool)
    assert not q("related=work-pool").includes(no_pool)
    assert q(f"related=flow:{FLOW_X}").includes(no_pool)
    assert not q("related=flow:prefect.flow.other").includes(no_pool)
    assert not q(f"related=work-pool:{FLOW_X}").includes(no_pool)  # right id, wrong role
    assert q(f"related=*:{FLOW_X}").includes(no_pool)
    assert q("related=flow:prefect.flow.*").includes(no_pool)
    assert not q(f"related=flow:{FLOW_X}&related=work-pool").includes(no_pool)  # both must match


def test_query_any_resource_and_text():
    event = parsed(flow_run(payload={"error": "Timed out"}))
    assert q(f"any={FLOW_X}").includes(event)
    assert q(f"any={event.resource.id}").includes(event)
    assert q("q=timed").includes(event)
    assert not q("q=timed -etl").includes(event)


def test_query_time_ranges(now):
    f = q("range=15m")
    assert now - timedelta(minutes=16) < f.occurred.since < now - timedelta(minutes=14)
    assert f.occurred.until is None
    fixed = q("since=2024-05-01T10:00&until=2024-05-01T11:00:00Z")
    assert fixed.occurred.since == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert fixed.occurred.until == datetime(2024, 5, 1, 11, tzinfo=UTC)
    assert not FeedQuery.parse(QueryDict("until=2024-05-01T11:00")).is_live


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("range=3y", "Unknown time range"),
        ("since=soon", "not a date and time"),
        ("since=2024-05-02T00:00&until=2024-05-01T00:00", "before its start"),
        ("related=:prefect.flow.1", "names no role"),
        ("resource==x", "names no label"),
        ("q=" + "x" * 201, "at most 200"),
    ],
)
def test_query_errors_say_what_to_fix(query, message):
    with pytest.raises(InvalidFeedQuery) as info:
        q(query)
    assert message in " ".join(info.value.messages)


def test_query_roundtrips_through_the_url():
    text = "event=prefect.flow-run.*&related=flow:prefect.flow.1&range=1h&q=boom"
    assert FeedQuery.parse(QueryDict(text)).querystring() == text


# -- rows -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_rows_have_readable_titles_badges_and_chips():
    row = feed_rows.row_for_model(_stored(flow_run("Failed", pool=True)))
    assert row["title"] == "Flow run"
    assert row["badge"] == {"text": "Failed", "tone": "bad"}
    assert [c["role"] for c in row["related"]] == ["flow", "work-pool"]
    assert row["related"][0]["filter"] == f"flow:{FLOW_X}"
    assert feed_rows.title("prefect.worker.submitted-flow-run") == "Worker submitted flow run"
    assert feed_rows.badge("prefect.task-run.AwaitingRetry", {}, [])["text"] == "Awaiting retry"
    assert feed_rows.badge("prefect.task-run.Running", {}, [])["tone"] == "info"


def _stored(event: dict):
    ingest(event)
    return _stored_model(event["id"])


def _stored_model(event_id: str):
    from eventsui.events.models import Event

    return Event.objects.get(id=event_id)


# -- pages ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_feed_requires_login(client):
    for url in ("/", "/events/rows", "/events/histogram", "/catalog/", f"/events/{uuid.uuid4()}/"):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"], url


@pytest.mark.django_db
def test_feed_lists_newest_first_with_filters_applied(logged_in, minutes_ago):
    old = flow_run("Running", occurred=minutes_ago(10))
    new = flow_run("Completed", pool=True, occurred=minutes_ago(1))
    ingest(old, new, make_event(occurred=minutes_ago(2)))
    html = logged_in.get("/").content.decode()
    assert html.index(new["id"]) < html.index(old["id"])
    filtered = logged_in.get("/?related=work-pool").content.decode()
    assert new["id"] in filtered and old["id"] not in filtered
    assert 'class="chip filter-chip"' in filtered  # the active filter, removable


@pytest.mark.django_db
def test_feed_page_pages_by_cursor(logged_in, minutes_ago):
    events = [make_event(occurred=minutes_ago(i + 1)) for i in range(60)]
    ingest(*events)
    with CaptureQueriesContext(connection) as captured:
        response = logged_in.get("/")
    # session, user, the page's keys and rows (and, on PostgreSQL, the settings that bound
    # and plan them): never a COUNT
    assert not [q for q in captured.captured_queries if "COUNT(" in q["sql"].upper()]
    assert len([q for q in captured.captured_queries if 'FROM "events"' in q["sql"]]) == 2
    assert response.context["next_cursor"]
    second = logged_in.get("/", {"before": response.context["next_cursor"]})
    ids = [row["id"] for row in second.context["rows"]]
    assert ids == [e["id"] for e in events[50:]]
    assert "Older events: live updates off" in second.content.decode()


@pytest.mark.django_db
def test_feed_escapes_event_values(logged_in):
    ingest(
        make_event(
            XSS[:100],
            resource_id="prefect.x." + XSS,
            payload={"m": XSS},
            related=[related("tag", "prefect.tag." + XSS)],
        )
    )
    html = logged_in.get("/").content.decode()
    assert "<script>window.__pwned" not in html
    assert "&lt;script&gt;window.__pwned" in html
    assert "<img src=x" not in html


@pytest.mark.django_db
def test_feed_shows_errors_and_empty_states(logged_in):
    bad = logged_in.get("/?since=not-a-time").content.decode()
    assert "This filter can't be used" in bad and "not a date and time" in bad
    empty = logged_in.get("/?event=nothing.here").content.decode()
    assert "No events match these filters" in empty
    assert "No events in this time range" in logged_in.get("/").content.decode()


@pytest.mark.django_db
def test_rows_endpoint_pages_older_and_fills_gaps(logged_in, minutes_ago):
    events = [make_event(occurred=minutes_ago(10 - i)) for i in range(5)]  # oldest first
    ingest(*events)
    newest = logged_in.get("/events/rows").json()
    assert row_ids(newest["html"]) == [e["id"] for e in reversed(events)]
    assert newest["next"] is None
    cursor = row_cursors(newest["html"])[2]
    after = logged_in.get("/events/rows", {"after": cursor}).json()
    assert row_ids(after["html"]) == [events[3]["id"], events[4]["id"]]  # oldest first
    before = logged_in.get("/events/rows", {"before": cursor}).json()
    assert row_ids(before["html"]) == [events[1]["id"], events[0]["id"]]
    assert logged_in.get("/events/rows", {"after": "garbage"}).status_code == 400


@pytest.mark.django_db
def test_rows_endpoint_says_where_the_next_page_starts(logged_in, minutes_ago):
    ingest(*[make_event(occurred=minutes_ago(i + 1)) for i in range(55)])
    first = logged_in.get("/events/rows").json()
    assert len(row_ids(first["html"])) == 50
    assert first["next"] == row_cursors(first["html"])[-1]
    rest = logged_in.get("/events/rows", {"before": first["next"]}).json()
    assert len(row_ids(rest["html"])) == 5 and rest["next"] is None


@pytest.mark.django_db
def test_page_and_endpoint_render_the_same_row(logged_in):
    event = flow_run("Failed", pool=True)
    ingest(event)
    page = logged_in.get("/?related=work-pool").content.decode()
    fragment = logged_in.get("/events/rows?related=work-pool").json()["html"]
    row = fragment[fragment.index("<li") : fragment.index("</li>") + 5]
    assert row in page
    # Readable without JavaScript: the exact time, which times.js turns into a relative one.
    stored = feed_rows.row_for_model(_stored_model(event["id"]))
    assert (
        f'<time class="when js-relative" datetime="{stored["occurred"]}" '
        f'title="{stored["exact"]}">{stored["exact"]}</time>'
    ) in row
    # "Only this resource" links add to the page's filter.
    assert f'href="?related=work-pool&amp;related=flow:{FLOW_X}"' in row
    assert '<span class="badge bad">Failed</span>' in row


def test_rows_rendered_without_a_page_filter_link_to_their_own_filter_only():
    row = feed_rows.row_for_model(parsed(flow_run()))
    html = feed_rows.render_rows([row])
    assert f'href="?related=flow:{FLOW_X}"' in html
    # The resource's name and id lead to its page (an absolute link: no page filter added).
    assert f'href="/resources/?id={row["resource"]["id"]}"' in html


def test_rendered_rows_escape_every_event_value():
    hostile = make_event(
        XSS[:100],
        resource_id="prefect.x." + XSS,
        payload={"m": XSS},
        related=[related("tag", "prefect.tag." + XSS, **{"prefect.resource.name": XSS})],
    )
    hostile["resource"]["prefect.resource.name"] = XSS
    html = feed_rows.render_rows([feed_rows.row_for_model(parsed(hostile))], "q=" + XSS)
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html


@pytest.mark.django_db
def test_histogram_counts_the_selected_range_in_readable_buckets(logged_in, minutes_ago):
    ingest(*[make_event(occurred=minutes_ago(i)) for i in (1, 2, 2, 30)])
    data = logged_in.get("/events/histogram", {"range": "1h"}).json()
    assert 20 <= len(data["buckets"]) <= 130
    assert sum(b["count"] for b in data["buckets"]) == 4
    only = logged_in.get("/events/histogram", {"range": "15m"}).json()
    assert sum(b["count"] for b in only["buckets"]) == 3


@pytest.mark.django_db
def test_event_page_shows_labels_related_follows_and_catalog(logged_in, minutes_ago):
    started = make_event(
        "prefect.worker.started",
        occurred=minutes_ago(5),
        related=[related("work-pool", POOL, **{"prefect.resource.name": "k8s"})],
    )
    stopped = make_event("prefect.worker.stopped", occurred=minutes_ago(1), follows=started["id"])
    ingest(started, stopped)
    page = logged_in.get(f"/events/{started['id']}/")
    html = page.content.decode()
    assert "Emitted when a worker process starts polling for work." in html
    assert f'href="/events/{stopped["id"]}/"' in html  # followed by
    assert "work-pool" in html and "When the worker is attached to a work pool" in html
    assert "related=work-pool:" in html  # "events for this resource"
    back = logged_in.get(f"/events/{stopped['id']}/").content.decode()
    assert f'id="follows-link" href="/events/{started["id"]}/"' in back
    assert logged_in.get(f"/events/{uuid.uuid4()}/").status_code == 404


@pytest.mark.django_db
def test_event_page_offers_an_automation_that_matches_it(logged_in):
    event = make_event("prefect.worker.started")
    ingest(event)
    html = logged_in.get(f"/events/{event['id']}/").content.decode()
    link = f'href="/automations/new/?event={event["id"]}"'
    assert link in html
    builder = logged_in.get(f"/automations/new/?event={event['id']}").content.decode()
    assert "prefect.worker.started" in builder


@pytest.mark.django_db
def test_event_page_escapes_everything(logged_in):
    event = make_event(
        XSS[:100],
        resource_id="prefect.x.1",
        payload={XSS: [XSS, {"k": XSS}]},
        **{"resource": {"prefect.resource.id": "prefect.x.1", "evil": XSS}},
    )
    ingest(event)
    html = logged_in.get(f"/events/{event['id']}/").content.decode()
    assert "<script>window.__pwned" not in html and "<img src=x" not in html


@pytest.mark.django_db
def test_catalog_lists_worker_runner_and_task_run_events(logged_in):
    html = logged_in.get("/catalog/").content.decode()
    for entry in catalog.ENTRIES:
        assert entry.name in html
    assert len([e for e in catalog.ENTRIES if e.name.startswith("prefect.task-run.")]) == 14
    assert catalog.lookup("prefect.worker.executed-flow-run").related_labels["flow-run"]
    assert catalog.lookup("prefect.flow-run.Completed") is None


@pytest.mark.django_db
def test_api_docs_load_swagger_ui_from_our_static_files(logged_in):
    html = logged_in.get("/api/docs/").content.decode()
    assert "swagger-ui-bundle.js" in html
    assert "cdn.jsdelivr.net" not in html and "unpkg.com" not in html
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html


def test_favicon_is_served(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("eventsui/favicon.svg")
