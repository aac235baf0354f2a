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
