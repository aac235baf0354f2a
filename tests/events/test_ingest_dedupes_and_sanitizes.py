"""Storing: an already-stored id, NaN in payloads, concurrent and resent batches."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connection

from eventsui.events import schemas, services
from eventsui.events.models import Event, EventResource
from tests.conftest import make_event

pytestmark = pytest.mark.django_db


def test_a_batch_with_an_already_stored_id_stores_the_rest():
    stored = schemas.Event.model_validate(make_event())
    services.ingest_events([stored], publish=False)
    other = schemas.Event.model_validate(make_event())
    # On PostgreSQL the COPY meets the unique key; the stored id is looked up and the rest
    # copied again. The resource rows follow only the events that were new.
    result = services.ingest_events([stored, other], publish=False)
    assert result.stored == 1
    assert len(result.payloads) == 1 and str(other.id) in result.payloads[0]
    assert Event.objects.filter(id=other.id).exists()
    assert Event.objects.filter(id=stored.id).count() == 1
    assert EventResource.objects.filter(event_id=stored.id).count() == 1 + len(stored.related)


def test_nan_and_infinity_in_a_payload_are_stored_as_null(api):
    body = (
        '[{"event": "x.y", "resource": {"prefect.resource.id": "r.1"},'
        ' "id": "6f1f7a52-8f0a-4a39-9d52-5c6f3b1d2e10", "payload": {"a": NaN, "b": [Infinity, 1]}}]'
    )
    response = api.generic("POST", "/api/events", body, content_type="application/json")
    assert response.status_code == 204
    assert Event.objects.get(id="6f1f7a52-8f0a-4a39-9d52-5c6f3b1d2e10").payload == {
        "a": None,
        "b": [None, 1],
    }


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_sharing_ids_store_each_event_once():
    shared = [schemas.Event.model_validate(make_event()) for _ in range(1000)]
    own = [[schemas.Event.model_validate(make_event()) for _ in range(40)] for _ in range(4)]
    barrier = threading.Barrier(4)
    stored, errors = [], []

    def send(i: int) -> None:
        # Each sender lists the shared events in its own order, between events of its own.
        mine = shared if i % 2 else list(reversed(shared))
        try:
            barrier.wait(timeout=10)
            batch = own[i][:20] + mine + own[i][20:]
            stored.append(services.ingest_events(batch, publish=False).stored)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sum(stored) == 1000 + 4 * 40
    assert Event.objects.count() == 1000 + 4 * 40
    expected_rows = sum(1 + len(e.related) for e in [*shared, *(e for b in own for e in b)])
    assert EventResource.objects.count() == expected_rows


def test_a_resent_batch_stores_nothing_and_a_mixed_one_only_the_new():
    first = [schemas.Event.model_validate(make_event()) for _ in range(5)]
    services.ingest_events(first, publish=False)
    assert services.ingest_events(first, publish=False).stored == 0
    new = [schemas.Event.model_validate(make_event()) for _ in range(3)]
    mixed = [new[0], *first[:2], new[1], first[4], new[2]]
    result = services.ingest_events(mixed, publish=False)
    assert result.stored == 3
    # Published in the order they came, not the (id) order they were written in.
    assert [json.loads(p)["id"] for p in result.payloads] == [str(e.id) for e in new]
    assert Event.objects.count() == 8
    assert EventResource.objects.count() == sum(1 + len(e.related) for e in [*first, *new])


@pytest.mark.postgresql  # the COPY path: SQLite stores through the ORM
def test_when_the_copy_keeps_meeting_stored_ids_insert_on_conflict_stores_the_rest(monkeypatch):
    stored = schemas.Event.model_validate(make_event())
    services.ingest_events([stored], publish=False)
    other = schemas.Event.model_validate(make_event())
    # As if another writer stored the same ids again after every look (the lookup finds
    # none), so each COPY is refused and INSERT .. ON CONFLICT stores the batch.
    looks, inserts = [], []
    monkeypatch.setattr(services, "_existing_ids", lambda cursor, rows: looks.append(1) or set())
    real_insert = services._insert_on_conflict
    monkeypatch.setattr(
        services,
        "_insert_on_conflict",
        lambda cursor, rows: inserts.append(len(rows)) or real_insert(cursor, rows),
    )
    result = services.ingest_events([stored, other], publish=False)
    assert len(looks) == services._COPY_ATTEMPTS  # every COPY was refused
    assert inserts == [2]  # then one INSERT .. ON CONFLICT of the whole batch
    assert result.stored == 1
    assert Event.objects.filter(id=other.id).exists()
    assert EventResource.objects.filter(event_id=other.id).count() == 1 + len(other.related)
