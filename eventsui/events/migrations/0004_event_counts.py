# Per-minute and per-hour event counts kept at ingest (exact totals and histograms without a
# COUNT over millions of rows), and resource-row indexes that end with the event id so a walk
# by resource or role is in the page's exact (occurred, event id) order.
from django.db import migrations, models

# Counts of the events stored before this migration, computed once from the store.
_PG_BUCKET = "date_bin(make_interval(secs => s.span), {0}, '2024-04-01T00:00:00Z')"
_SQLITE_BUCKET = (
    "CASE s.span WHEN 60 THEN strftime('%Y-%m-%d %H:%M:00', {0}) "
    "ELSE strftime('%Y-%m-%d %H:00:00', {0}) END"
)
_SPANS = {
    "postgresql": "(VALUES (60), (3600)) AS s(span)",
    "sqlite": "(SELECT 60 AS span UNION ALL SELECT 3600) AS s",
}


def _backfill_statements(vendor: str) -> list[str]:
    bucket = _PG_BUCKET if vendor == "postgresql" else _SQLITE_BUCKET
    spans = _SPANS[vendor]
    statements = [
        f"""INSERT INTO event_counts (span, bucket, event, count, first, last)
        SELECT s.span, {bucket.format("e.occurred")}, e.event, count(*), min(e.occurred),
               max(e.occurred)
        FROM events e CROSS JOIN {spans} GROUP BY 1, 2, 3"""
    ]
    for resource_id in ("r.resource_id", "''"):
        statements.append(
            f"""INSERT INTO event_resource_counts (span, bucket, role, resource_id, count)
            SELECT s.span, {bucket.format("r.occurred")}, r.role, {resource_id},
                   count(DISTINCT r.event_id)
            FROM event_resources r CROSS JOIN {spans}
            WHERE r.position > 0 GROUP BY 1, 2, 3, 4"""
        )
    return statements


def backfill(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        for sql in _backfill_statements(connection.vendor):
            cursor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("eventsui", "0003_event_batches")]

    operations = [
        migrations.CreateModel(
            name="EventCount",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("span", models.IntegerField()),
                ("bucket", models.DateTimeField()),
                ("event", models.TextField()),
                ("count", models.BigIntegerField()),
                ("first", models.DateTimeField()),
                ("last", models.DateTimeField()),
            ],
            options={"db_table": "event_counts"},
        ),
        migrations.CreateModel(
            name="EventResourceCount",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("span", models.IntegerField()),
                ("bucket", models.DateTimeField()),
                ("role", models.TextField()),
                ("resource_id", models.TextField()),
                ("count", models.BigIntegerField()),
            ],
            options={"db_table": "event_resource_counts"},
        ),
        migrations.RemoveIndex(model_name="event", name="events_event_occurred"),
        migrations.RemoveIndex(model_name="event", name="events_resource_occurred"),
        migrations.AddIndex(
            model_name="event",
            index=models.Index(
                fields=["event", "occurred", "id"],
                name="events_event_occurred",
                opclasses=["text_pattern_ops", "timestamptz_ops", "uuid_ops"],
            ),
        ),
        migrations.AddIndex(
            model_name="event",
            index=models.Index(
                fields=["resource_id", "occurred", "id"],
                name="events_resource_occurred",
                opclasses=["text_pattern_ops", "timestamptz_ops", "uuid_ops"],
            ),
        ),
        migrations.RemoveIndex(model_name="eventresource", name="event_resources_id"),
        migrations.RemoveIndex(model_name="eventresource", name="event_resources_role"),
        migrations.AddIndex(
            model_name="eventresource",
            index=models.Index(
                fields=["resource_id", "occurred", "event"],
                name="event_resources_id",
                opclasses=["text_pattern_ops", "timestamptz_ops", "uuid_ops"],
            ),
        ),
        migrations.AddIndex(
            model_name="eventresource",
            index=models.Index(fields=["role", "occurred", "event"], name="event_resources_role"),
        ),
        migrations.AddIndex(
            model_name="eventcount",
            index=models.Index(
                fields=["span", "event", "bucket"],
                name="event_counts_event",
                opclasses=["int4_ops", "text_pattern_ops", "timestamptz_ops"],
            ),
        ),
        migrations.AddConstraint(
            model_name="eventcount",
            constraint=models.UniqueConstraint(
                fields=("span", "bucket", "event"), name="event_counts_key"
            ),
        ),
        migrations.AddConstraint(
            model_name="eventresourcecount",
            constraint=models.UniqueConstraint(
                fields=("span", "role", "resource_id", "bucket"),
                name="event_resource_counts_key",
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
