"""Side by side with a real Prefect server: the same events, the same questions, the same answers.

A `prefect server start` process (the test extra's prefect, on a free loopback port, its own
PREFECT_HOME) and this project's API are loaded with the same corpus of events; then every
body of BODIES (covering each field of Prefect's `EventFilter`), COUNTS (count-by) and
INVALID (refused requests) is asked of both, comparing event ids and their order, `total`,
paging, count-by answers, statuses and the events' JSON. A difference fails the test unless
docs/parity.md lists it as one where Prefect is wrong (those bodies are not in the corpus:
tests/events/test_prefect_parity.py holds our behaviour there).

Prefect's text search concatenates with SQLite's `concat()` (SQLite 3.44+; this machine's is
older), so Prefect runs on PostgreSQL when the suite does (`.ci/run`); on SQLite, TEXT bodies
are compared with PREFECT_TEXT_ANSWERS, Prefect's answers recorded from a Prefect on
PostgreSQL (`PARITY_RECORD=1` with a PostgreSQL DATABASE_URL prints them again).
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from eventsui.events import schemas, services
from tests import prefect_server

pytestmark = pytest.mark.django_db

# Every corpus time is an offset from ANCHOR: the start of the hour two days ago, so the
# default filter (the last 180 days up to now) holds all of them.
ANCHOR = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=2)
NAMESPACE = uuid.UUID("6f1c7a52-2c1e-4f0b-9d53-1f0c1b0e7a11")

STATES = ["Scheduled", "Pending", "Running", "Completed", "Failed", "Crashed", "Cancelled"]
POOLS = ["default", "gpu", "k8s"]
FLOWS = ["etl", "reports", "cleanup", "ingest"]
TAGS = ["nightly", "critical", "team-a"]


def _id(i: int) -> str:
    return str(uuid.uuid5(NAMESPACE, str(i)))


def corpus() -> list[dict[str, Any]]:
    """~300 events of Prefect-like traffic, every one at its own time (Prefect orders by
    `occurred` alone, so equal times would have no defined order to compare)."""
    events = []
    for i in range(300):
        # 0..~47 hours after ANCHOR, in uneven steps, fractions of a second on some
        offset = timedelta(seconds=i * 577 + (i % 7) * 13, microseconds=(i % 4) * 250000)
        kind = i % 10
        related = []
        flow = FLOWS[i % len(FLOWS)]
        pool = POOLS[i % len(POOLS)]
        if kind < 6:
            state = STATES[i % len(STATES)]
            name = f"prefect.flow-run.{state}"
            resource = {
                "prefect.resource.id": f"prefect.flow-run.run-{i % 37}",
                "prefect.resource.name": f"{flow}-run-{i % 37}",
                "prefect.state-name": state,
                "prefect.state-type": state.upper(),
            }
            related = [
                {
                    "prefect.resource.id": f"prefect.flow.{flow}",
                    "prefect.resource.role": "flow",
                    "prefect.resource.name": flow,
                },
                {
                    "prefect.resource.id": f"prefect.work-pool.{pool}",
                    "prefect.resource.role": "work-pool",
                    "prefect.resource.name": pool,
                    "prefect.work-pool.type": "kubernetes" if pool == "k8s" else "process",
                },
            ]
            if i % 3 == 0:
                related.append(
                    {
                        "prefect.resource.id": f"prefect.work-queue.{pool}-queue",
                        "prefect.resource.role": "work-queue",
                    }
                )
            related += [
                {"prefect.resource.id": f"prefect.tag.{t}", "prefect.resource.role": "tag"}
                for t in TAGS[: i % 4]
            ]
            payload = {"intended": {"to": state}, "message": f"run {i % 37} is {state}"}
            if state == "Crashed":
                payload["message"] = f"Crash detected - Cancelled by infrastructure ({i})"
        elif kind < 8:
            name = "prefect.worker.started" if i % 4 else "prefect.worker.stopped"
            resource = {
                "prefect.resource.id": f"prefect.worker.process.w{i % 5}",
                "prefect.worker-type": "process",
                "prefect.version": "3.4.0",
            }
            if i % 5 == 1:
                resource["prefect.name"] = "named-by-prefect-name"
            if i % 5 == 2:
                resource["prefect.resource.name"] = ""
            related = [
                {
                    "prefect.resource.id": f"prefect.work-pool.{pool}",
                    "prefect.resource.role": "work-pool",
                }
            ]
            payload = {}
        elif kind == 8:
            name = "prefect.deployment.ready" if i % 3 else "prefect.deployment.not-ready"
            resource = {
                "prefect.resource.id": f"prefect.deployment.dep-{i % 6}",
                "prefect.resource.name": f"{flow}/dep-{i % 6}",
            }
            related = [
                {
                    "prefect.resource.id": f"prefect.flow.{flow}",
                    "prefect.resource.role": "flow",
                    "prefect.resource.name": flow,
                }
            ]
            payload = {"status": "READY" if i % 3 else "NOT_READY"}
        else:
            name = f"acme.billing.invoice.{['created', 'paid', 'overdue'][i % 3]}"
            resource = {
                "prefect.resource.id": f"acme.invoice.{i % 11}",
                "acme.customer": ["globex", "initech", "umbrella"][i % 3],
                "acme.amount": str(100 + i),
            }
            payload = {"note": 'said "timed out" twice' if i % 2 else "paid in full"}
        events.append(
            {
                "occurred": (ANCHOR + offset).isoformat(),
                "event": name,
                "resource": resource,
                "related": related,
                "payload": payload,
                "id": _id(i),
                "follows": _id(i - 1) if i % 17 == 5 else None,
            }
        )
    return events


def at(hours: float) -> str:
    return (ANCHOR + timedelta(hours=hours)).isoformat()


def window(since_h: float, until_h: float) -> dict:
    return {"occurred": {"since": at(since_h), "until": at(until_h)}}


# name -> POST /api/events/filter body
BODIES: dict[str, dict[str, Any]] = {
    "empty body": {},
    "default filter": {"filter": {}},
    "limit 50": {"limit": 50},
    "limit 7": {"filter": {}, "limit": 7},
    "occurred window": {"filter": window(3, 9)},
    "occurred since only": {"filter": {"occurred": {"since": at(40)}}},
    "occurred window ASC": {"filter": {**window(3, 9), "order": "ASC"}},
    "order ASC": {"filter": {"order": "ASC"}, "limit": 20},
    "occurred on an event": {"filter": {"occurred": {"since": at(0), "until": at(0)}}},
    "event prefix": {"filter": {"event": {"prefix": ["prefect.flow-run."]}}},
    "event prefixes": {"filter": {"event": {"prefix": ["prefect.worker", "acme."]}}},
    "event exclude_prefix": {"filter": {"event": {"exclude_prefix": ["prefect.flow-run"]}}},
    "event name": {"filter": {"event": {"name": ["prefect.flow-run.Failed"]}}},
    "event names": {
        "filter": {"event": {"name": ["prefect.flow-run.Failed", "prefect.worker.stopped"]}}
    },
    "event exclude_name": {
        "filter": {
            "event": {"prefix": ["prefect.flow-run"], "exclude_name": ["prefect.flow-run.Running"]}
        }
    },
    "event no such name": {"filter": {"event": {"name": ["nope"]}}},
    "resource id": {"filter": {"resource": {"id": ["prefect.flow-run.run-3"]}}},
    "resource ids": {
        "filter": {"resource": {"id": ["prefect.flow-run.run-3", "prefect.worker.process.w2"]}}
    },
    "resource id_prefix": {"filter": {"resource": {"id_prefix": ["prefect.worker."]}}},
    "resource labels exact": {"filter": {"resource": {"labels": {"prefect.state-name": "Failed"}}}},
    "resource labels list": {
        "filter": {"resource": {"labels": {"prefect.state-name": ["Failed", "Crashed"]}}}
    },
    "resource labels prefix glob": {
        "filter": {"resource": {"labels": {"prefect.resource.name": "etl-*"}}}
    },
    "resource labels glob": {
        "filter": {"resource": {"labels": {"prefect.resource.name": "*-run-1?"}}}
    },
    "resource labels negated": {
        "filter": {
            "event": {"prefix": ["prefect.flow-run"]},
            "resource": {"labels": {"prefect.state-name": "!Completed"}},
        }
    },
    "resource labels id glob": {
        "filter": {"resource": {"labels": {"prefect.resource.id": "prefect.deployment.*"}}}
    },
    "resource labels empty list": {"filter": {"resource": {"labels": {"acme.customer": []}}}},
    "resource labels two": {
        "filter": {
            "resource": {"labels": {"acme.customer": "globex", "acme.amount": ["109", "139"]}}
        }
    },
    "resource labels missing label negated": {
        "filter": {"resource": {"labels": {"acme.customer": "!globex"}}}
    },
    "resource distinct": {"filter": {"resource": {"distinct": True}}},
    "resource distinct ASC": {"filter": {"resource": {"distinct": True}, "order": "ASC"}},
    "resource distinct with prefix": {
        "filter": {"resource": {"id_prefix": ["prefect.flow-run"], "distinct": True}},
        "limit": 10,
    },
    "related id": {"filter": {"related": {"id": ["prefect.flow.etl"]}}},
    "related role": {"filter": {"related": {"role": ["work-queue"]}}},
    "related roles": {"filter": {"related": {"role": ["work-pool", "work-queue"]}}},
    "related role tag": {"filter": {"related": {"role": ["tag"]}}, "limit": 13},
    "related resources_in_roles": {
        "filter": {"related": {"resources_in_roles": [["prefect.work-pool.gpu", "work-pool"]]}}
    },
    "related resources_in_roles wrong role": {
        "filter": {"related": {"resources_in_roles": [["prefect.work-pool.gpu", "flow"]]}}
    },
    "related labels": {"filter": {"related": {"labels": {"prefect.resource.name": "k8s"}}}},
    "related labels role exact": {
        "filter": {"related": {"labels": {"prefect.resource.role": "work-queue"}}}
    },
    "related labels role glob": {
        "filter": {"related": {"labels": {"prefect.resource.role": "work-*"}}}
    },
    "related labels role and name": {
        "filter": {
            "related": {
                "labels": {"prefect.resource.role": ["flow"], "prefect.resource.name": "re*"}
            }
        }
    },
    "related labels id glob": {
        "filter": {"related": {"labels": {"prefect.resource.id": "prefect.tag.*"}}}
    },
    "related labels negated": {
        "filter": {
            "related": {
                "role": ["work-pool"],
                "labels": {"prefect.work-pool.type": "!process"},
            }
        }
    },
    "related id and role": {
        "filter": {"related": {"id": ["prefect.work-pool.k8s"], "role": ["work-pool"]}}
    },
    "related list": {
        "filter": {
            "related": [
                {"role": ["tag"], "id": ["prefect.tag.critical"]},
                {"id": ["prefect.flow.reports"]},
            ]
        }
    },
    "any_resource id": {"filter": {"any_resource": {"id": ["prefect.work-pool.gpu"]}}},
    "any_resource id primary": {"filter": {"any_resource": {"id": ["prefect.flow-run.run-3"]}}},
    "any_resource id_prefix": {"filter": {"any_resource": {"id_prefix": ["prefect.tag."]}}},
    "any_resource labels": {
        "filter": {"any_resource": {"labels": {"prefect.resource.name": "etl"}}}
    },
    "any_resource labels role": {
        "filter": {"any_resource": {"labels": {"prefect.resource.role": "work-queue"}}}
    },
    "any_resource list": {
        "filter": {
            "any_resource": [
                {"id_prefix": ["prefect.flow-run"]},
                {"labels": {"prefect.resource.id": "prefect.tag.nightly"}},
            ]
        }
    },
    "id": {"filter": {"id": {"id": [_id(5), _id(77), _id(299), str(uuid.UUID(int=1))]}}},
    "id empty list": {"filter": {"id": {"id": []}}},
    "everything at once": {
        "filter": {
            **window(0, 30),
            "event": {"prefix": ["prefect.flow-run"], "exclude_name": ["prefect.flow-run.Pending"]},
            "resource": {"id_prefix": ["prefect.flow-run.run-1"]},
            "related": {"role": ["work-pool"]},
            "any_resource": {"id": ["prefect.flow.etl", "prefect.flow.cleanup"]},
            "order": "ASC",
        },
        "limit": 5,
    },
}

# name -> text query: Prefect's SQL for these needs PostgreSQL (see the module's docstring)
TEXT: dict[str, str] = {
    "text word": "Crashed",
    "text sign and space": "Crashed - Cancelled",
    "text term then phrase": 'Crashed"Cancelled"',
    "text exclude": "deployment -ready",
    "text bang exclude": "worker !stopped",
    "text required": "+etl +Failed",
    "text phrase": '"timed out"',
    "text escaped quote phrase": '"said \\"timed"',
    "text case": "GLOBEX",
    "text json key text": "intended",
    "text percent": "100%",
    "text blank": "   ",
}
for _name, _query in TEXT.items():
    BODIES[_name] = {"filter": {"text": {"query": _query}}}

# name -> (countable, body)
COUNTS: dict[str, tuple[str, dict[str, Any]]] = {
    "day": ("day", {"filter": window(-30, 50)}),
    "day whole days": (
        "day",
        {
            "filter": {
                "occurred": {
                    "since": (ANCHOR - timedelta(hours=ANCHOR.hour)).isoformat(),
                    "until": (ANCHOR - timedelta(hours=ANCHOR.hour, days=-2)).isoformat(),
                }
            }
        },
    ),
    "time hour": ("time", {"filter": window(0, 24), "time_unit": "hour"}),
    "time hour unaligned": ("time", {"filter": window(0.3, 7.7), "time_unit": "hour"}),
    "time minute 15": (
        "time",
        {"filter": window(1, 5), "time_unit": "minute", "time_interval": 15},
    ),
    "time hour half": (
        "time",
        {"filter": window(2, 6), "time_unit": "hour", "time_interval": 0.5},
    ),
    "time day": ("time", {"filter": window(-5, 40), "time_unit": "day"}),
    "time week": ("time", {"filter": window(-24 * 20, 40), "time_unit": "week"}),
    "time second 30": (
        "time",
        {"filter": window(1, 1.5), "time_unit": "second", "time_interval": 30},
    ),
    "time filtered": (
        "time",
        {
            "filter": {**window(0, 48), "event": {"prefix": ["prefect.worker"]}},
            "time_unit": "hour",
            "time_interval": 6,
        },
    ),
    "time 1000 buckets": ("time", {"filter": window(0, 1000 / 60), "time_unit": "minute"}),
    "time future until": (
        "time",
        {
            "filter": {
                "occurred": {
                    "since": at(40),
                    "until": (datetime.now(UTC) + timedelta(days=3)).isoformat(),
                }
            },
            "time_unit": "day",
        },
    ),
    "time since after until": ("time", {"filter": window(10, 5), "time_unit": "hour"}),
    "event": ("event", {"filter": window(0, 48)}),
    "event filtered": (
        "event",
        {"filter": {**window(0, 48), "related": {"role": ["work-pool"]}}},
    ),
    "resource": ("resource", {"filter": window(0, 48)}),
    "resource workers": (
        "resource",
        {"filter": {**window(0, 48), "event": {"prefix": ["prefect.worker"]}}},
    ),
    "resource renamed": (
        "resource",
        {"filter": {**window(0, 48), "resource": {"id_prefix": ["prefect.flow-run.run-1"]}}},
    ),
    "resource since after until": ("resource", {"filter": window(10, 5)}),
}

# name -> (method, path, body: JSON data, raw bytes, or None)
INVALID: dict[str, tuple[str, str, Any]] = {
    "limit 51": ("POST", "/api/events/filter", {"limit": 51}),
    "limit negative": ("POST", "/api/events/filter", {"limit": -1}),
    "limit text": ("POST", "/api/events/filter", {"limit": "many"}),
    "unknown top-level key": ("POST", "/api/events/filter", {"foo": 1}),
    "unknown filter key": ("POST", "/api/events/filter", {"filter": {"foo": 1}}),
    "unknown occurred key": ("POST", "/api/events/filter", {"filter": {"occurred": {"x": 1}}}),
    "not JSON": ("POST", "/api/events/filter", b"not json"),
    "until null": ("POST", "/api/events/filter", {"filter": {"occurred": {"until": None}}}),
    "since text": ("POST", "/api/events/filter", {"filter": {"occurred": {"since": "soon"}}}),
    "order wrong": ("POST", "/api/events/filter", {"filter": {"order": "UP"}}),
    "id not uuid": ("POST", "/api/events/filter", {"filter": {"id": {"id": ["x"]}}}),
    "text too long": ("POST", "/api/events/filter", {"filter": {"text": {"query": "x" * 201}}}),
    "labels not strings": (
        "POST",
        "/api/events/filter",
        {"filter": {"resource": {"labels": {"a": 1}}}},
    ),
    "next without token": ("GET", "/api/events/filter/next", None),
    "next bad token": ("GET", "/api/events/filter/next?page-token=zzz", None),
    "count-by without filter": ("POST", "/api/events/count-by/event", {}),
    "count-by unknown countable": ("POST", "/api/events/count-by/nope", {"filter": {}}),
    "count-by interval too small": (
        "POST",
        "/api/events/count-by/time",
        {"filter": {}, "time_interval": 0.001},
    ),
    "count-by 1001 buckets": (
        "POST",
        "/api/events/count-by/time",
        {"filter": window(0, 1001 / 60), "time_unit": "minute"},
    ),
    "count-by unknown unit": (
        "POST",
        "/api/events/count-by/time",
        {"filter": {}, "time_unit": "fortnight"},
    ),
    "count-by not JSON": ("POST", "/api/events/count-by/day", b"{"),
    "post event without id": (
        "POST",
        "/api/events",
        [{"occurred": at(1), "event": "a.b", "resource": {"prefect.resource.id": "a"}}],
    ),
    "post event without resource id": (
        "POST",
        "/api/events",
        [{"occurred": at(1), "event": "a.b", "resource": {}, "id": str(uuid.uuid4())}],
    ),
    "post not a list": ("POST", "/api/events", {"event": "a.b"}),
    "post not JSON": ("POST", "/api/events", b"[{"),
}


# -- the two servers ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prefect():
    """The real Prefect server's client (tests/prefect_server.py; started at collection)."""
    server = prefect_server.server()
    server.client.on_postgresql = server.on_postgresql
    return server.client


@pytest.fixture(scope="module")
def loaded(prefect, django_db_setup, django_db_blocker):
    """The corpus in both stores. Prefect stores an event as it is posted only through its
    ephemeral path (a request whose host says `ephemeral-prefect`); the normal path hands
    events to a messaging service that --no-services does not run."""
    events = corpus()
    for start in range(0, len(events), 100):
        status, body = prefect.request(
            "POST",
            "/api/events",
            events[start : start + 100],
            headers={"Host": "ephemeral-prefect"},
        )
        assert status == 204, body
    from django.contrib.auth import get_user_model

    with django_db_blocker.unblock():
        services.ingest_events([schemas.Event.model_validate(e) for e in events], publish=False)
        get_user_model().objects.create_user("differential", password="x")
    yield events
    with django_db_blocker.unblock():
        from django.core.management import call_command

        call_command("flush", interactive=False, verbosity=0)


@pytest.fixture
def ours(loaded):
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(get_user_model().objects.get(username="differential"))
    return client


def ask_ours(client, method: str, path: str, body: Any = None):
    if method == "GET":
        response = client.get(path)
    elif isinstance(body, bytes):
        response = client.generic("POST", path, body, content_type="application/json")
    else:
        response = client.generic(
            "POST", path, json.dumps(body) if body is not None else b"", "application/json"
        )
    try:
        data = json.loads(response.content) if response.content else None
    except ValueError:
        data = response.content.decode(errors="replace")
    return response.status_code, data


def _local(url: str) -> str:
    """Our next_page link (http://testserver/...) as the test client's path."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def _strip_received(event: dict) -> dict:
    event = dict(event)
    received = event.pop("received")
    assert received.endswith("Z")
    datetime.fromisoformat(received.replace("Z", "+00:00"))
    return event


def _all_pages(ask, first: dict) -> list[dict]:
    pages = [first]
    while pages[-1]["next_page"] and len(pages) < 12:
        status, page = ask("GET", pages[-1]["next_page"])
        assert status == 200, page
        pages.append(page)
    return pages


# -- the comparisons --------------------------------------------------------------------------


def _corpus_index(events: list[dict]) -> dict[str, int]:
    return {e["id"]: i for i, e in enumerate(events)}


@pytest.mark.parametrize("name", [n for n in BODIES if n not in TEXT])
def test_filter_answers_match_prefect(name, prefect, ours, loaded):
    body = BODIES[name]
    status, theirs = prefect.request("POST", "/api/events/filter", body)
    assert status == 200, theirs
    status, mine = ask_ours(ours, "POST", "/api/events/filter", body)
    assert status == 200, mine
    assert set(mine) - {"total_is_estimate"} == set(theirs)
    assert mine["total"] == theirs["total"]
    their_pages = _all_pages(lambda m, p: prefect.request(m, p), theirs)
    our_pages = _all_pages(lambda m, p: ask_ours(ours, m, _local(p)), mine)
    their_events = [e for page in their_pages for e in page["events"]]
    our_events = [e for page in our_pages for e in page["events"]]
    index = _corpus_index(loaded)
    assert [index.get(e["id"]) for e in our_events] == [index.get(e["id"]) for e in their_events]
    assert [len(p["events"]) for p in our_pages] == [len(p["events"]) for p in their_pages]
    assert [p["total"] for p in our_pages] == [p["total"] for p in their_pages]
    for our_event, their_event in zip(our_events, their_events, strict=True):
        assert list(our_event) == list(their_event)  # Prefect's key order
        assert _strip_received(our_event) == _strip_received(their_event)


# Prefect's answers to the TEXT bodies (corpus indexes, newest first, and total), recorded
# from a Prefect 3.9 server on PostgreSQL loaded with this corpus.
PREFECT_TEXT_ANSWERS_FILE = Path(__file__).with_name("prefect_text_answers.json")


@pytest.mark.parametrize("name", list(TEXT))
def test_text_search_answers_match_prefect(name, prefect, ours, loaded):
    body = BODIES[name]
    index = _corpus_index(loaded)
    status, mine = ask_ours(ours, "POST", "/api/events/filter", body)
    assert status == 200, mine
    our_answer = {"ids": [index[e["id"]] for e in mine["events"]], "total": mine["total"]}
    if prefect.on_postgresql:
        status, theirs = prefect.request("POST", "/api/events/filter", body)
        assert status == 200, theirs
        their_answer = {"ids": [index[e["id"]] for e in theirs["events"]], "total": theirs["total"]}
        if os.environ.get("PARITY_RECORD"):
            print(f"PARITY_RECORD {json.dumps({name: their_answer})}")
    else:
        their_answer = json.loads(PREFECT_TEXT_ANSWERS_FILE.read_text())[name]
    assert our_answer == their_answer


@pytest.mark.parametrize("name", list(COUNTS))
def test_count_by_answers_match_prefect(name, prefect, ours, loaded):
    countable, body = COUNTS[name]
    path = f"/api/events/count-by/{countable}"
    their_status, theirs = prefect.request("POST", path, body)
    our_status, mine = ask_ours(ours, "POST", path, body)
    assert our_status == their_status == 200, (mine, theirs)
    assert mine == theirs


@pytest.mark.parametrize("name", list(INVALID))
def test_refused_requests_get_prefects_status(name, prefect, ours, loaded):
    method, path, body = INVALID[name]
    their_status, theirs = prefect.request(method, path, body)
    our_status, mine = ask_ours(ours, method, path, body)
    assert our_status == their_status, (mine, theirs)
    if our_status == 422:  # every refusal names the field (or the body) and the rule
        assert mine["errors"] and all("field" in e and e["msg"] for e in mine["errors"])
