from django.apps import AppConfig


class EventsConfig(AppConfig):
    # The label stays "eventsui" (the app's name before the package moved into
    # eventsui/events/): migrations and the django_migrations rows are keyed by it.
    name = "eventsui.events"
    label = "eventsui"
    verbose_name = "Events"
    default_auto_field = "django.db.models.BigAutoField"
