"""A real daphne server process for tests that need one (HTTP and websockets).

It is started as a separate program (`daphne eventsui.asgi:application`), not forked from
the test process: a fork inherits the test process's event loops, threads and connections,
which breaks once async tests have run in it. It serves the test database: the same
settings, with DATABASE_URL naming the database pytest-django created.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class LiveServer:
    url: str
    ws_url: str
    process: subprocess.Popen
    log: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        name = str(db["NAME"])
        if name == ":memory:" or "mode=memory" in name:
            raise RuntimeError("A live server needs a file or PostgreSQL test database")
        return f"sqlite://{name}" if name.startswith("/") else f"sqlite:///{name}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgresql://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def start_server(
    django_db_blocker,
    *,
    timeout: float = 30.0,
    env: dict[str, str] | None = None,
    database_port: int | None = None,
) -> LiveServer:
    """`database_port`: reach PostgreSQL through another port (a test's proxy)."""
    from django.conf import settings

    with django_db_blocker.unblock():
        database_url = _database_url()
    if database_port is not None:
        database_url = re.sub(r":\d+/", f":{database_port}/", database_url, count=1)
    port = _free_port()
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"eventsui-test-daphne-{port}.log"
    env = dict(
        os.environ,
        **(env or {}),
        DATABASE_URL=database_url,
        DJANGO_SETTINGS_MODULE="tests.live_settings",
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            # Events may be 1.5 MB; daphne's default websocket limit is 1 MiB.
            "--websocket-max-message-size",
            str(settings.WEBSOCKET_MAX_MESSAGE_BYTES),
            "--websocket-max-frame-size",
            str(settings.WEBSOCKET_MAX_MESSAGE_BYTES),
            "eventsui.asgi:application",
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/health", timeout=1) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"daphne did not start: {log.read_text()[-2000:]}")
        time.sleep(0.1)
    return LiveServer(url, f"ws://127.0.0.1:{port}", process, log)


def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
