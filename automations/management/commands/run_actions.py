"""The action worker: runs automations' actions from the durable queue.

    manage.py run_actions                  # until SIGTERM / Ctrl-C
    manage.py run_actions --threads 32     # at most 32 attempts at once (ACTIONS_WORKER_THREADS)

Run several (on PostgreSQL, or SQLite for a few): they share the queue. SIGTERM stops taking
jobs and lets the attempts in progress finish and be recorded; a `kill -9` leaves them
`running`, and another worker takes them again once their lease passes.
"""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand, CommandParser

from automations.actions.runner import ActionRunner


class Command(BaseCommand):
    help = "Run automations' actions from the durable queue."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--threads", type=int, default=None, help="attempts at once")

    def handle(self, *args, **options) -> None:
        runner = ActionRunner(threads=options["threads"])
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        self.stdout.write(f"Action worker {runner.worker_id} running ({runner.threads} threads).")
        runner.run_forever(stop)
        self.stdout.write(f"Action worker stopped: {runner.stats['jobs']:,} jobs.")
