"""A database made before the layout change (apps `eventsui` and `automations`, their migrations
as first released) upgrades cleanly: every migration it recorded is still in the graph under the
same app label and name, and its rows survive migrating forward to the newest schema."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

# What `django_migrations` holds on a database migrated by the release before the layout
# change (commit bb0a496): these rows must keep meaning the same migrations.
RELEASED = [
    ("eventsui", "0001_initial"),
    ("eventsui", "0002_resource_indexes_for_ordered_walks"),
    ("automations", "0001_initial"),
]


@pytest.mark.django_db
def test_every_released_migration_is_still_in_the_graph_under_its_label():
    executor = MigrationExecutor(connection)
    for node in RELEASED:
        assert node in executor.loader.graph.nodes, f"{node} is gone: old databases would break"


def test_event_tables_keep_their_names():
    from automations.models import Automation
    from eventsui.events.models import ApiToken, Event, EventResource

    assert Event._meta.db_table == "events"
    assert EventResource._meta.db_table == "event_resources"
    assert ApiToken._meta.db_table == "eventsui_apitoken"
    assert Automation._meta.db_table == "automations_automation"


@pytest.mark.django_db(transaction=True)
def test_a_database_at_the_released_schema_migrates_forward_and_keeps_its_rows():
    executor = MigrationExecutor(connection)
    # Back to the released schema: each app at its last released migration, newer ones unapplied.
    executor.migrate([RELEASED[1], RELEASED[2]])
    event_id, automation_id = uuid.uuid4(), uuid.uuid4()
    occurred = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO events (id, occurred, received, event, resource_id, resource, related,"
            " payload, follows) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, NULL)",
            [
                event_id.hex if connection.vendor == "sqlite" else event_id,
                occurred,
                occurred,
                "prefect.worker.started",
                "prefect.worker.process.old",
                json.dumps({"prefect.resource.id": "prefect.worker.process.old"}),
                "[]",
                "{}",
            ],
        )
        cursor.execute(
            "INSERT INTO automations_automation (id, name, description, enabled, trigger, actions,"
            " actions_on_trigger, actions_on_resolve, owner_resource, created, updated)"
            " VALUES (%s, %s, '', %s, %s, '[]', '[]', '[]', NULL, %s, %s)",
            [
                automation_id.hex if connection.vendor == "sqlite" else automation_id,
                "made before the upgrade",
                True,
                json.dumps({"type": "event", "expect": ["prefect.worker.started"]}),
                occurred,
                occurred,
            ],
        )

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert not MigrationExecutor(connection).migration_plan(
        MigrationExecutor(connection).loader.graph.leaf_nodes()
    ), "migrations left unapplied"

    from automations.models import Automation
    from eventsui.events.models import Event

    assert Event.objects.get(id=event_id).event == "prefect.worker.started"
    assert Automation.objects.get(id=automation_id).name == "made before the upgrade"


@pytest.mark.django_db(transaction=True)
def test_open_windows_stored_in_a_state_become_bucket_rows_on_upgrade():
    """0004 moves the engine's buckets out of each state's JSON into rows: the windows open
    at the upgrade stay open, with their timer (a window of 0 closes SWEEP_AFTER later)."""
    executor = MigrationExecutor(connection)
    executor.migrate([("automations", "0003_actions")])
    apps = executor.loader.project_state([("automations", "0003_actions")]).apps
    Automation = apps.get_model("automations", "Automation")
    State = apps.get_model("automations", "AutomationState")
    counted, instant = str(uuid.uuid4()), str(uuid.uuid4())
    automation = Automation.objects.create(
        name="windows open at upgrade",
        trigger={
            "type": "compound",
            "id": str(uuid.uuid4()),
            "require": "all",
            "triggers": [
                {"type": "event", "id": counted, "expect": ["a"], "within": 600.0},
                {"type": "event", "id": instant, "expect": ["b"], "within": 0.0},
            ],
        },
    )
    end = "2026-12-01T12:10:00+00:00"
    bucket = {"start": "2026-12-01T12:00:00+00:00", "end": end, "count": 2, "labels": {}}
    bucket |= {"last_event": None, "triggered": False, "counting": True}
    State.objects.create(
        automation=automation,
        trigger_hash="x",
        state={
            "buckets": {counted: {'["w1"]': bucket}, instant: {"[]": dict(bucket)}},
            "children": {"c": [{"trigger_id": counted}]},
            "armed": True,
        },
        next_due=datetime(2026, 12, 1, 12, 10, tzinfo=UTC),
    )

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    from automations.engine.models import AutomationState, EngineBucket
    from automations.engine.worker import bucket_hash

    rows = {row.key: row for row in EngineBucket.objects.filter(automation_id=automation.id)}
    assert set(rows) == {'["w1"]', "[]"}
    assert rows['["w1"]'].data["count"] == 2
    assert rows['["w1"]'].expires == datetime(2026, 12, 1, 12, 10, tzinfo=UTC)
    assert rows["[]"].expires == datetime(2026, 12, 1, 12, 11, tzinfo=UTC)
    assert rows['["w1"]'].key_hash == bucket_hash(automation.id, counted, '["w1"]')
    state = AutomationState.objects.get(automation_id=automation.id).state
    assert state == {"children": {"c": [{"trigger_id": counted}]}, "armed": True}
