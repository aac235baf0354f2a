# The metric triggers' hold state (automations.engine.metrics).
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("automations", "0004_engine_buckets")]

    operations = [
        migrations.CreateModel(
            name="MetricState",
            fields=[
                (
                    "automation",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="metric_state",
                        serialize=False,
                        to="automations.automation",
                    ),
                ),
                ("trigger_hash", models.CharField(max_length=64)),
                ("state", models.JSONField(default=dict)),
                ("next_due", models.DateTimeField()),
                ("updated", models.DateTimeField(auto_now=True)),
            ],
            options={
                "indexes": [models.Index(fields=["next_due"], name="metric_state_due")],
            },
        ),
    ]
