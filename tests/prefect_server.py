"""A real `prefect server start` process for tests/events/test_prefect_differential.py.

It takes a while to start (its migrations), so tests/conftest.py starts it as soon as the
differential test is collected (`start_early`) and the test waits for it (`server`): the
start overlaps the tests that run before it. Its own PREFECT_HOME in a temporary directory;
its database is SQLite there, or, when the suite runs on PostgreSQL, a PostgreSQL database of
its own next to the test database (Prefect's text search needs PostgreSQL or SQLite 3.44+).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

START_TIMEOUT = 240  # seconds; a loaded 2-core machine needs a minute for the migrations


class Http:
    """A tiny JSON client for a base URL (urllib: nothing beyond the standard library)."""

    def __init__(self, base: str):
        self.base = base.rstrip("/")

    def request(self, method: str, path: str, body: Any = None, headers=None):
        url = path if path.startswith("http") else self.base + path
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                return exc.code, json.loads(raw) if raw else None
            except ValueError:
                return exc.code, raw.decode(errors="replace")


@dataclass
class PrefectServer:
    process: subprocess.Popen
    client: Http
    home: Path
    log: Path
    postgresql_database: str | None
    postgresql_params: dict = field(default_factory=dict)

    @property
    def on_postgresql(self) -> bool:
        return self.postgresql_database is not None


_server: PrefectServer | None = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _postgresql_params() -> dict | None:
    from django.conf import settings

    db = settings.DATABASES["default"]
    if "postgresql" not in db["ENGINE"]:
        return None
    name = (db.get("TEST") or {}).get("NAME") or f"test_{db['NAME']}"
    return {
        "host": db.get("HOST") or "127.0.0.1",
        "port": int(db.get("PORT") or 5432),
        "user": db.get("USER") or "postgres",
        "password": db.get("PASSWORD") or "",
        "name": f"{name}_prefect",
    }


def _admin(params: dict, sql: str) -> None:
    import psycopg

    with psycopg.connect(
        host=params["host"],
        port=params["port"],
        user=params["user"],
        password=params["password"] or None,
        dbname="postgres",
        autocommit=True,
    ) as connection:
        connection.execute(sql)


def start_early() -> None:
    """Start the server (once) without waiting for it."""
    global _server
    if _server is not None:
        return
    home = Path(tempfile.mkdtemp(prefix="prefect-home-"))
    params = _postgresql_params()
    if params:
        _admin(params, f'DROP DATABASE IF EXISTS "{params["name"]}"')
        _admin(params, f'CREATE DATABASE "{params["name"]}"')
        auth = f"{params['user']}:{params['password']}" if params["password"] else params["user"]
        url = f"postgresql+asyncpg://{auth}@{params['host']}:{params['port']}/{params['name']}"
    else:
        url = f"sqlite+aiosqlite:///{home}/prefect.db"
    port = _free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_DATABASE_CONNECTION_URL": url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
    }
    log = home / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("prefect")), "server", "start"]
            + ["--host", "127.0.0.1", "--port", str(port), "--no-services"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _server = PrefectServer(
        process=process,
        client=Http(f"http://127.0.0.1:{port}"),
        home=home,
        log=log,
        postgresql_database=params["name"] if params else None,
        postgresql_params=params or {},
    )


def server() -> PrefectServer:
    """The server, once it answers (started now if it was not started early)."""
    start_early()
    assert _server is not None
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            if _server.client.request("GET", "/api/health")[0] == 200:
                return _server
        except OSError:
            pass
        if _server.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("prefect server did not start:\n" + _server.log.read_text()[-3000:])
        time.sleep(0.3)


def stop() -> None:
    global _server
    if _server is None:
        return
    process = _server.process
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if _server.postgresql_database:
        _admin(
            _server.postgresql_params, f'DROP DATABASE IF EXISTS "{_server.postgresql_database}"'
        )
    shutil.rmtree(_server.home, ignore_errors=True)
    _server = None
