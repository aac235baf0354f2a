"""The first command a newcomer runs: a database, a login, and something to look at.

    manage.py bootstrap                          # SQLite, login admin/<generated>, 5,000 events
    manage.py bootstrap --password s3cret --demo-events 20000
    EVENTSUI_ADMIN_PASSWORD=s3cret manage.py bootstrap --demo-events 0

Running it again changes nothing that exists: it migrates, keeps the existing login and its
password, and adds demo events only to an empty store.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from eventsui.events.management.commands.demo_events import backfill
from eventsui.events.models import Event

USERNAME = "admin"
PASSWORD_ENV = "EVENTSUI_ADMIN_PASSWORD"
URL = "http://127.0.0.1:8000/"


class Command(BaseCommand):
    help = "Migrate, create the admin login if there is none, and load demo events if empty."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--password",
            help=f"password for the new '{USERNAME}' login (default: ${PASSWORD_ENV}, or generated)",
        )
        parser.add_argument(
            "--demo-events",
            type=int,
            default=5000,
            metavar="N",
            help="demo events to load over the past 24h if the store is empty (0: none)",
        )
        parser.add_argument("--seed", type=int, help="make the demo events reproducible")

    def handle(self, *args, **options) -> None:
        if options["demo_events"] < 0:
            raise CommandError("--demo-events must be 0 or more")
        database = connection.settings_dict
        self.stdout.write(f"Database: {database['ENGINE'].rsplit('.', 1)[-1]} {database['NAME']}")

        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Migrations applied.")

        login = self.ensure_login(options["password"])
        self.ensure_demo_events(options["demo_events"], options["seed"])

        self.stdout.write("")
        self.stdout.write(
            self.style.SUCCESS(
                "Ready. `manage.py serve` serves the dashboard with the automation engine "
                f"(the README's command runs it next): open {URL} and sign in as:"
            )
        )
        username, password = login
        self.stdout.write(f"    username: {username}")
        if password:
            self.stdout.write(f"    password: {password}")
        else:
            self.stdout.write(
                "    password: unchanged (the one you chose or were shown the first time; "
                f"reset it with `python manage.py changepassword {username}`)"
            )
        self.stdout.write(f"The admin (events, API tokens) is at {URL}admin/.")

    def ensure_login(self, password: str | None) -> tuple[str, str | None]:
        """Create the admin login unless a superuser exists; returns the username to sign in
        with and the new password (None when the login already existed)."""
        users = get_user_model()
        if users.objects.filter(username=USERNAME).exists():
            self.stdout.write(f"Login '{USERNAME}' already exists; its password is unchanged.")
            return USERNAME, None
        existing = (
            users.objects.filter(is_superuser=True)
            .order_by("pk")
            .values_list("username", flat=True)
        )
        if existing:
            self.stdout.write(f"A superuser already exists ('{existing[0]}'); no login created.")
            return existing[0], None
        password = password or os.environ.get(PASSWORD_ENV) or secrets.token_urlsafe(12)
        users.objects.create_superuser(USERNAME, email="", password=password)
        self.stdout.write(self.style.SUCCESS(f"Created the superuser login '{USERNAME}'."))
        return USERNAME, password

    def ensure_demo_events(self, count: int, seed: int | None) -> None:
        if count == 0:
            self.stdout.write("No demo events requested.")
            return
        if Event.objects.exists():
            self.stdout.write("The event store already has events; no demo events added.")
            return
        self.stdout.write(f"Loading {count:,} demo events over the past 24 hours…")
        result = backfill(count, timedelta(hours=24), seed=seed)
        self.stdout.write(
            f"Stored {result['stored']:,} demo events in {result['seconds']:.1f} s "
            f"({result['stats']})."
        )
