"""trim_events: retention deletes old events with their resource rows, in bounded batches."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.test import override_settings

from eventsui.events import schemas, services
from eventsui.events.models import Event, EventResource
from tests.conftest import make_event, related

pytestmark = pytest.mark.django_db


def store(count: int, age: timedelta) -> list[str]:
    occurred = datetime.now(UTC) - age
    events = [
        make_event(
            "prefect.flow-run.Completed",
            resource_id=f"prefect.flow-run.{age.days}-{n}",
            occurred=occurred - timedelta(seconds=n),
            related=[related("flow", "prefect.flow.1"), related("tag", "prefect.tag.prod")],
        )
        for n in range(count)
    ]
    services.ingest_events([schemas.Event.model_validate(e) for e in events], publish=False)
    return [e["id"] for e in events]


def trim(*args: str) -> str:
    out = io.StringIO()
    call_command("trim_events", *args, stdout=out)
    return out.getvalue()


def test_trim_deletes_old_events_and_their_resource_rows_only():
    old = store(4, timedelta(days=10))
    new = store(3, timedelta(days=1))

    output = trim()

    assert "Deleted 4 events" in output
    assert not Event.objects.filter(id__in=old).exists()
    assert not EventResource.objects.filter(event_id__in=old).exists()
    assert Event.objects.filter(id__in=new).count() == 3
    assert EventResource.objects.filter(event_id__in=new).count() == 3 * 3


@override_settings(EVENTS_RETENTION_DAYS=20)
def test_trim_uses_the_retention_setting():
    store(2, timedelta(days=10))
    assert "Deleted 0 events" in trim()
    assert Event.objects.count() == 2


def test_days_option_overrides_the_setting():
    store(2, timedelta(days=3))
    store(1, timedelta(hours=1))
    assert "Deleted 2 events" in trim("--days", "2")
    assert Event.objects.count() == 1


def test_trim_loops_over_bounded_batches_until_done(monkeypatch):
    store(7, timedelta(days=30))
    keep = store(2, timedelta(days=2))
    batches = []
    real = services.delete_events_before

    def recording(cutoff, *, batch_size):
        deleted = real(cutoff, batch_size=batch_size)
        batches.append(deleted)
        return deleted

    monkeypatch.setattr(services, "delete_events_before", recording)

    assert "Deleted 7 events" in trim("--batch-size", "3")
    assert batches == [3, 3, 1, 0]
    assert set(Event.objects.values_list("id", flat=True)) == {uuid.UUID(k) for k in keep}
    assert EventResource.objects.count() == 2 * 3


def test_trim_with_nothing_old_deletes_nothing():
    store(2, timedelta(hours=2))
    assert "Deleted 0 events" in trim()
    assert Event.objects.count() == 2


def test_trim_drops_engine_batches_older_than_the_cutoff():
    """With no automation engine running, the queue of stored batches must not grow forever."""
    from eventsui.events.models import EventBatch

    old = datetime.now(UTC) - timedelta(days=10)
    services.ingest_events(
        [schemas.Event.model_validate(make_event(occurred=old))], received=old, publish=False
    )
    store(1, timedelta(days=1))
    assert EventBatch.objects.count() == 2
    trim()
    assert list(EventBatch.objects.values_list("created", flat=True)) != [old]
    assert EventBatch.objects.count() == 1


def test_trim_drops_the_count_rows_it_empties_and_keeps_the_others_exact():
    from eventsui.events.models import EventCount, EventResourceCount

    old = store(4, timedelta(days=10))
    store(3, timedelta(days=1))
    old_day = Event.objects.get(id=old[0]).occurred

    trim()

    assert not EventCount.objects.filter(bucket__lte=old_day, count__lte=0).exists()
    assert not EventCount.objects.filter(bucket__lte=old_day).exists(), "emptied rows go"
    assert not EventResourceCount.objects.filter(count__lte=0).exists()
    hourly = EventCount.objects.filter(span=3600, event="prefect.flow-run.Completed")
    assert sum(hourly.values_list("count", flat=True)) == 3
    flows = EventResourceCount.objects.filter(span=3600, role="flow", resource_id="prefect.flow.1")
    assert sum(flows.values_list("count", flat=True)) == 3
