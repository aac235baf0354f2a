from django.apps import AppConfig


class EventsuiConfig(AppConfig):
    name = "eventsui"
    verbose_name = "Events"
    default_auto_field = "django.db.models.BigAutoField"
