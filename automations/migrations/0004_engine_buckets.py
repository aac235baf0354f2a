# The engine's open windows move out of each automation's state JSON into one row per bucket
# (the windows open at upgrade are kept).
import hashlib
from datetime import datetime, timedelta

import django.db.models.deletion
from django.db import migrations, models

SWEEP_AFTER = timedelta(seconds=60)  # the evaluator's, at the time of this migration


def _is_zero(within) -> bool:
    """A stored `within` of 0 (seconds as a number or string, or an ISO 8601 duration)."""
    if isinstance(within, int | float):
        return within == 0
    if isinstance(within, str):
        try:
            return float(within) == 0
        except ValueError:
            return within.upper() in ("PT0S", "P0D", "PT0M", "PT0H", "P0DT0S")
    return False


def _triggers(trigger):
    yield trigger
    for child in trigger.get("triggers") or []:
        yield from _triggers(child)


def buckets_to_rows(apps, schema_editor):
    State = apps.get_model("automations", "AutomationState")
    Bucket = apps.get_model("automations", "EngineBucket")
    for state in State.objects.select_related("automation").iterator():
        windows = {
            str(t.get("id")): t.get("within") for t in _triggers(state.automation.trigger or {})
        }
        rows = []
        for trigger_id, keys in (state.state.get("buckets") or {}).items():
            for key, bucket in keys.items():
                expires = datetime.fromisoformat(bucket["end"])
                if _is_zero(windows.get(trigger_id)):
                    expires += SWEEP_AFTER
                rows.append(
                    Bucket(
                        automation_id=state.automation_id,
                        trigger_id=trigger_id,
                        key_hash=hashlib.sha256(
                            f"{state.automation_id}|{trigger_id}|{key}".encode()
                        ).hexdigest(),
                        key=key,
                        data=bucket,
                        expires=expires,
                    )
                )
        Bucket.objects.bulk_create(rows, batch_size=1000)
        state.state = {k: v for k, v in state.state.items() if k != "buckets"}
        state.save(update_fields=["state"])


class Migration(migrations.Migration):
    dependencies = [("automations", "0003_actions")]

    operations = [
        migrations.RemoveIndex(model_name="automationstate", name="automation_state_due"),
        migrations.RemoveField(model_name="automationstate", name="next_due"),
        migrations.CreateModel(
            name="EngineBucket",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("trigger_id", models.UUIDField()),
                ("key_hash", models.CharField(max_length=64, unique=True)),
                ("key", models.TextField()),
                ("data", models.JSONField()),
                ("expires", models.DateTimeField()),
                (
                    "automation",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="engine_buckets",
                        to="automations.automation",
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["expires"], name="engine_bucket_expires")],
            },
        ),
        migrations.RunPython(buckets_to_rows, migrations.RunPython.noop),
    ]
