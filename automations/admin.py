"""Automations and blocks in the admin. Automation validation is the schema's, through
`Automation.clean()`; saving goes through the service so related resources stay in step."""

from __future__ import annotations

from django.contrib import admin

from automations import services, validation
from automations.models import Automation, NotificationBlock, WebhookBlock


@admin.register(Automation)
class AutomationAdmin(admin.ModelAdmin):
    list_display = ["name", "enabled", "updated"]
    list_filter = ["enabled"]
    search_fields = ["name", "description"]
    readonly_fields = ["id", "created", "updated"]
    fields = [
        "id",
        "name",
        "description",
        "enabled",
        "trigger",
        "actions",
        "actions_on_trigger",
        "actions_on_resolve",
        "owner_resource",
        "created",
        "updated",
    ]

    def save_model(self, request, obj, form, change):
        # clean() already validated; store what the schema produced (defaults, float seconds).
        services.save_automation(validation.parse_automation(obj.core_data()), instance=obj)


@admin.register(WebhookBlock)
class WebhookBlockAdmin(admin.ModelAdmin):
    list_display = ["name", "method", "url", "id"]
    search_fields = ["name", "url"]
    readonly_fields = ["id", "created", "updated"]


@admin.register(NotificationBlock)
class NotificationBlockAdmin(admin.ModelAdmin):
    list_display = ["name", "url", "id"]
    search_fields = ["name", "url"]
    readonly_fields = ["id", "created", "updated"]
