from django.apps import AppConfig
from django.core.checks import Tags, register


class ServerConfig(AppConfig):
    """The server patches (handlers.py, daphne_pings.py) and the checks that they apply."""

    name = "eventsui.server"
    label = "eventsui_server"
    verbose_name = "Server patches"

    def ready(self) -> None:
        from eventsui.server import checks

        register(checks.check_tested_versions, Tags.compatibility)
        register(checks.check_asgi_handler, Tags.compatibility)
        register(checks.check_daphne_patch, Tags.compatibility)
