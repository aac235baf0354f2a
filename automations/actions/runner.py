"""The action worker: takes jobs from the durable queue (django-tasks' database backend,
`django_tasks_db`) and runs them on a bounded pool of threads.

django_tasks_db's own `db_worker` runs one job at a time; actions are mostly waiting on the
network (a webhook may take its whole 10 s timeout), so this worker claims jobs with the
library's own claim (`ready().get_locked()` in its `exclusive_transaction`, `claim()`; SKIP
LOCKED on PostgreSQL, an exclusive transaction on SQLite) and runs each with the library's
`Worker.run_task`, on at most `ACTIONS_WORKER_THREADS` threads. A job is claimed only when a
thread is free, so nothing waits in memory: the backlog stays in the database, where another
worker can take it. Several workers (processes) share one queue.

Every `RECOVER_EVERY` seconds it also enqueues again the runs whose worker died mid-attempt
(`run.recover_lost`).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections, connections
from django.db.utils import OperationalError
from django.utils.crypto import get_random_string
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import exclusive_transaction, is_locked_database_exception

from automations.actions import run as runs

logger = logging.getLogger("automations.actions")

RECOVER_EVERY = 5.0
# An idle worker looks for jobs five times a second: a firing's action starts within 0.2 s
# (the target is 1 s from firing to executed), and an idle server costs a few queries a second.
IDLE_SLEEP = 0.2


class ActionRunner:
    def __init__(self, *, threads: int | None = None, worker_id: str | None = None) -> None:
        self.threads = threads or getattr(settings, "ACTIONS_WORKER_THREADS", 16)
        self.worker_id = worker_id or f"actions-{get_random_string(12)}"
        self.worker = Worker(
            queue_names=[runs.QUEUE_NAME],
            interval=0,
            batch=False,
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            worker_id=self.worker_id,
            excluded_queue_names=[],
        )
        self.pool = ThreadPoolExecutor(self.threads, thread_name_prefix="action")
        self._lock = threading.Lock()
        self.active = 0
        self._recovered_at = 0.0
        self.stats = {"jobs": 0}

    def _claim(self, limit: int) -> list[DBTaskResult]:
        claimed: list[DBTaskResult] = []
        ready = DBTaskResult.objects.ready().filter(
            backend_name="default", queue_name=runs.QUEUE_NAME
        )
        try:
            with exclusive_transaction(ready.db):
                for job in ready.select_for_update(skip_locked=True)[:limit]:
                    job.claim(self.worker_id)
                    claimed.append(job)
        except OperationalError as exc:
            if not is_locked_database_exception(exc):
                raise
            return []
        return claimed

    def _run(self, job: DBTaskResult) -> None:
        try:
            self.worker.run_task(job)
        finally:
            with self._lock:
                self.active -= 1
            connections.close_all()  # this thread's connections (back to the pool)

    def run_once(self) -> bool:
        """Claim as many jobs as there are free threads and start them; True if any."""
        now = time.monotonic()
        if now - self._recovered_at > RECOVER_EVERY:
            self._recovered_at = now
            try:
                runs.recover_lost()
            except OperationalError as exc:
                if not is_locked_database_exception(exc):
                    raise
        with self._lock:
            free = self.threads - self.active
        if free <= 0:
            return False
        jobs = self._claim(free)
        for job in jobs:
            with self._lock:
                self.active += 1
            self.stats["jobs"] += 1
            self.pool.submit(self._run, job)
        return bool(jobs)

    def run_forever(self, stop: threading.Event) -> None:
        while not stop.is_set():
            close_old_connections()
            try:
                did = self.run_once()
            except Exception:  # a failed claim rolled back: log it, wait, go on
                logger.exception("action worker step failed")
                stop.wait(1.0)
                continue
            if not did:
                stop.wait(IDLE_SLEEP)
        self.pool.shutdown(wait=True)  # the attempts in progress finish and are recorded

    def drain(self, timeout: float = 30.0) -> int:
        """Tests: run everything that is due, in this thread's pool, until nothing is left."""
        deadline = time.monotonic() + timeout
        ran = 0
        while time.monotonic() < deadline:
            self._recovered_at = 0.0
            did = self.run_once()
            ran += self.stats["jobs"] if did else 0
            with self._lock:
                busy = self.active
            if not did and not busy:
                return ran
            time.sleep(0.01)
        raise TimeoutError("actions did not finish")

    def run_here(self, limit: int = 1000) -> int:
        """Tests and `--once`: claim and run due jobs one by one in this thread (so inside
        the caller's transaction), until none is due. Returns how many ran."""
        ran = 0
        while ran < limit:
            jobs = self._claim(1)
            if not jobs:
                return ran
            self.worker.run_task(jobs[0])
            ran += 1
        return ran
