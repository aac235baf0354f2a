# Actions that really run: ActionRun (one per action of a firing), Incident, and notification
# blocks as Apprise URLs (today's email / Slack / Teams / webhook rows converted).
import uuid
from urllib.parse import quote, urlsplit

import django.db.models.deletion
from django.db import migrations, models


def apprise_url(channel, target):
    """The Apprise URL of a notification row of the first schema (channel + target)."""
    target = (target or "").strip()
    if channel == "email":
        # Delivered through the SMTP server Django is configured with (localhost:25 by
        # default), as the old email channel would have been.
        from django.conf import settings

        host = getattr(settings, "EMAIL_HOST", "localhost") or "localhost"
        port = getattr(settings, "EMAIL_PORT", 25) or 25
        to = ",".join(quote(a.strip(), safe="@") for a in target.split(",") if a.strip())
        sender = getattr(settings, "DEFAULT_FROM_EMAIL", "") or "eventsui@localhost"
        if "<" in sender:
            sender = sender.split("<", 1)[1].rstrip(">")
        return f"mailto://{host}:{port}?to={to}&from={quote(sender, safe='@')}"
    if channel in ("slack", "teams"):
        # Apprise understands these services' own webhook URLs (its "native" URLs).
        try:
            import apprise

            plugin = apprise.Apprise.instantiate(target, suppress_exceptions=True)
            if plugin is not None:
                return plugin.url(privacy=False)
        except Exception:  # noqa: BLE001 - fall back to a plain JSON post below
            pass
    parts = urlsplit(target)
    scheme = "jsons" if parts.scheme == "https" else "json"
    return f"{scheme}://{parts.netloc}{parts.path}" + (f"?{parts.query}" if parts.query else "")


def to_apprise(apps, schema_editor):
    NotificationBlock = apps.get_model("automations", "NotificationBlock")
    for block in NotificationBlock.objects.all():
        block.url = apprise_url(block.channel, block.target)[:2000]
        block.save(update_fields=["url"])


def from_apprise(apps, schema_editor):
    NotificationBlock = apps.get_model("automations", "NotificationBlock")
    for block in NotificationBlock.objects.all():
        scheme = block.url.split("://", 1)[0]
        if scheme in ("mailto", "mailtos"):
            query = block.url.split("to=", 1)[-1].split("&", 1)[0]
            block.channel, block.target = "email", query.replace("%40", "@")
        elif scheme == "slack":
            block.channel, block.target = "slack", block.url
        else:
            rest = block.url.split("://", 1)[-1]
            block.channel = "webhook"
            block.target = ("https://" if scheme.endswith("s") else "http://") + rest
        block.save(update_fields=["channel", "target"])


class Migration(migrations.Migration):
    dependencies = [("automations", "0002_engine_state_and_firings")]

    operations = [
        migrations.AddField(
            model_name="notificationblock",
            name="url",
            field=models.CharField(
                default="",
                help_text="An Apprise URL: mailto://, slack://, msteams://, discord://, ntfy://, json:// and the rest of Apprise's services.",
                max_length=2000,
                verbose_name="Apprise URL",
            ),
            preserve_default=False,
        ),
        migrations.RunPython(to_apprise, from_apprise),
        migrations.RemoveField(model_name="notificationblock", name="channel"),
        migrations.RemoveField(model_name="notificationblock", name="target"),
        migrations.CreateModel(
            name="ActionRun",
            fields=[
                ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ("action_index", models.PositiveIntegerField()),
                ("action_type", models.CharField(max_length=40)),
                ("action", models.JSONField()),
                ("manual", models.BooleanField(default=False)),
                ("triggering_event", models.JSONField(blank=True, null=True)),
                ("status", models.CharField(choices=[("pending", "pending"), ("running", "running"), ("retrying", "retrying"), ("executed", "executed"), ("failed", "failed")], default="pending", max_length=10)),
                ("attempts", models.PositiveIntegerField(default=0)),
                ("lease_until", models.DateTimeField(blank=True, null=True)),
                ("next_attempt_at", models.DateTimeField(blank=True, null=True)),
                ("request", models.JSONField(blank=True, null=True)),
                ("status_code", models.PositiveIntegerField(blank=True, null=True)),
                ("response_body", models.TextField(blank=True, default="")),
                ("reason", models.TextField(blank=True, default="")),
                ("details", models.JSONField(blank=True, default=dict)),
                ("created", models.DateTimeField(auto_now_add=True)),
                ("updated", models.DateTimeField(auto_now=True)),
                ("finished", models.DateTimeField(blank=True, null=True)),
                ("automation", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="action_runs", to="automations.automation")),
                ("firing", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name="action_runs", to="automations.firing")),
            ],
            options={
                "ordering": ["created", "action_index"],
                "indexes": [models.Index(fields=["automation", "-created"], name="action_runs_automation"), models.Index(fields=["status", "lease_until"], name="action_runs_lease")],
                "constraints": [models.UniqueConstraint(fields=("firing", "action_index"), name="action_runs_firing_index")],
            },
        ),
        migrations.CreateModel(
            name="Incident",
            fields=[
                ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ("bucket", models.TextField(blank=True, default="")),
                ("title", models.CharField(max_length=500)),
                ("severity", models.CharField(default="high", max_length=20)),
                ("triggering_event_id", models.UUIDField(blank=True, null=True)),
                ("triggering_event_name", models.CharField(blank=True, default="", max_length=1024)),
                ("opened", models.DateTimeField()),
                ("resolved", models.DateTimeField(blank=True, null=True)),
                ("automation", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="incidents", to="automations.automation")),
                ("firing", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to="automations.firing")),
            ],
            options={
                "ordering": ["-opened"],
                "indexes": [models.Index(fields=["-opened"], name="incidents_opened"), models.Index(fields=["automation", "resolved"], name="incidents_automation_open")],
            },
        ),
    ]
