"""Today's notification blocks (email / Slack / Teams / webhook) become Apprise URLs."""

from __future__ import annotations

import importlib
import uuid

import apprise
import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

migration = importlib.import_module("automations.migrations.0003_actions")

ROWS = [
    ("email", "oncall@example.com, lead@example.com"),
    ("slack", "https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXXXXX"),
    ("teams", "https://example.webhook.office.com/webhookb2/aaaa@bbbb/IncomingWebhook/cccc/dddd"),
    ("webhook", "https://alerts.example.com/hooks/eventsui?team=data"),
]


def test_each_old_channel_becomes_an_apprise_url_apprise_understands(settings):
    settings.EMAIL_HOST, settings.EMAIL_PORT = "smtp.example.com", 587
    urls = {channel: migration.apprise_url(channel, target) for channel, target in ROWS}
    assert urls["email"].startswith(
        "mailto://smtp.example.com:587?to=oncall@example.com,lead@example.com"
    )
    assert urls["slack"].startswith("slack://T0000/B0000/XXXXXXXXXXXXXXXX")
    assert urls["webhook"] == "jsons://alerts.example.com/hooks/eventsui?team=data"
    for channel, url in urls.items():
        assert apprise.Apprise.instantiate(url) is not None, (channel, url)


@pytest.mark.django_db(transaction=True)
def test_the_migration_converts_stored_rows():
    executor = MigrationExecutor(connection)
    executor.migrate([("automations", "0002_engine_state_and_firings")])
    ids = {}
    with connection.cursor() as cursor:
        for channel, target in ROWS:
            ids[channel] = uuid.uuid4()
            cursor.execute(
                "INSERT INTO automations_notificationblock (id, name, channel, target, created,"
                " updated) VALUES (%s, %s, %s, %s, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
                [
                    ids[channel].hex if connection.vendor == "sqlite" else ids[channel],
                    channel,
                    channel,
                    target,
                ],
            )
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    from automations.blocks import NotificationBlock

    urls = {b.name: b.url for b in NotificationBlock.objects.all()}
    assert set(urls) == {channel for channel, _ in ROWS}
    assert urls["webhook"] == "jsons://alerts.example.com/hooks/eventsui?team=data"
    assert urls["slack"].startswith("slack://")
    assert urls["email"].startswith("mailto://")
