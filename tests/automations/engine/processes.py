"""Real engine and web processes against the test database, for the durability and
deployment tests: `manage.py run_automations` and `manage.py serve`, started as programs (not
forked, see tests/live_server.py), each writing its stdout and log lines to a file the test
reads afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.live_server import ROOT, _database_url, _free_port


@dataclass
class Process:
    name: str
    process: subprocess.Popen
    log: Path
    url: str | None = None  # web processes only

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def firing_lines(self) -> list[str]:
        """The engine's log line per stored firing (`Engine._store_firings`)."""
        return [line for line in self.output().splitlines() if ") triggered at " in line]

    def kill(self) -> None:
        """kill -9: no signal handler runs, no transaction commits."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, timeout: float = 10) -> int:
        """SIGTERM, as a process manager stops a service; the exit code."""
        if self.process.poll() is None:
            self.process.terminate()
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"{self.name} ignored SIGTERM: {self.output()[-2000:]}") from None


def _env(database_url: str) -> dict[str, str]:
    return dict(
        os.environ,
        DATABASE_URL=database_url,
        DJANGO_SETTINGS_MODULE="tests.live_settings",
        PYTHONUNBUFFERED="1",  # the test reads stdout while the process runs
    )


def database_url(django_db_blocker, application_name: str | None = None) -> str:
    """The test database's URL; on PostgreSQL it can name the connections' application, so a
    test can see in pg_stat_activity what one process's connections are doing."""
    with django_db_blocker.unblock():
        url = _database_url()
    if application_name and url.startswith("postgresql://"):
        url += f"?application_name={application_name}"
    return url


def _log(name: str) -> Path:
    return Path(os.environ.get("TMPDIR", "/tmp")) / f"eventsui-test-{name}-{os.getpid()}.log"


def start_engine(django_db_blocker, name: str = "engine") -> Process:
    """`manage.py run_automations`; its connections are named `name` on PostgreSQL."""
    log = _log(name)
    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_automations"],
        cwd=ROOT,
        env=_env(database_url(django_db_blocker, name)),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    return Process(name, process, log)


def start_web(django_db_blocker, name: str = "web", *, engine: bool = True) -> Process:
    """`manage.py serve` on a free port (the engine in its thread unless engine=False).
    Call `wait_until_serving` before using it."""
    port = _free_port()
    log = _log(name)
    command = [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(
        command + ([] if engine else ["--no-engine"]),
        cwd=ROOT,
        env=_env(database_url(django_db_blocker, name)),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    return Process(name, process, log, url=f"http://127.0.0.1:{port}")


def wait_until_serving(web: Process, timeout: float = 30) -> None:
    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"{web.url}/api/health", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    wait_until(healthy, timeout, f"{web.name} to serve", process=web)


def wait_until(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    *,
    process: Process | None = None,
    interval: float = 0.05,
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.process.poll() is not None:
            raise AssertionError(f"{process.name} exited: {process.output()[-2000:]}")
        if time.monotonic() > deadline:
            tail = f": {process.output()[-2000:]}" if process is not None else ""
            raise AssertionError(f"timed out after {timeout} s waiting for {what}{tail}")
        time.sleep(interval)
