"""A database outage against a real server: health says so, requests answer 503 with
Retry-After in seconds (not a 500 after the pool's 30 s), and service comes back by itself.

The outage is real for the server: its connections to PostgreSQL go through a TCP relay that
the test stops (every connection cut, nothing listening) and starts again.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest
from django.db import connection
from django.test import Client

from eventsui.lib.unavailable import RETRY_AFTER_SECONDS
from tests.conftest import basic_header
from tests.live_server import start_server, stop_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgresql]


class Relay:
    """127.0.0.1:port -> PostgreSQL, which can be cut and restored."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.port = 0
        self.sockets: list[socket.socket] = []
        self.listener: socket.socket | None = None
        self.lock = threading.Lock()

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        self.port = listener.getsockname()[1]
        listener.listen(64)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        with self.lock:
            if self.listener is not None:
                # shutdown() first: close() alone leaves a thread blocked in accept() accepting.
                self.listener.shutdown(socket.SHUT_RDWR)
                self.listener.close()
                self.listener = None
            for sock in self.sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            self.sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.close()
                except OSError:
                    pass


def get(url: str, headers: dict | None = None, data: bytes | None = None):
    request = urllib.request.Request(url, data=data, headers=headers or {})
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return (
                response.status,
                dict(response.headers),
                response.read(),
                time.monotonic() - started,
            )
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read(), time.monotonic() - started


@pytest.fixture
def relay():
    settings = connection.settings_dict
    relay = Relay((settings["HOST"] or "127.0.0.1", int(settings["PORT"] or 5432)))
    relay.up()
    yield relay
    relay.down()


def test_a_database_outage_answers_503_with_retry_after_quickly_and_recovers(
    django_db_blocker, relay, viewer
):
    client = Client()
    client.force_login(viewer)  # a session the server reads from the database
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    server = start_server(django_db_blocker, database_port=relay.port)
    api = {"Authorization": basic_header(viewer.username), "Content-Type": "application/json"}
    body = json.dumps({"filter": {}}).encode()
    try:
        assert get(f"{server.url}/api/health")[0] == 200
        assert get(f"{server.url}/api/events/filter", api, body)[0] == 200

        relay.down()
        status, headers, content, took = get(f"{server.url}/api/health")
        assert status == 503 and headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
        assert took < 10
        status, headers, content, took = get(f"{server.url}/api/events/filter", api, body)
        assert status == 503 and headers["Content-Type"] == "application/json"
        assert headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
        assert "unavailable" in json.loads(content)["detail"]
        assert took < 10
        status, headers, content, took = get(f"{server.url}/", {"Cookie": cookie})
        assert status == 503 and "Retry-After" in headers and took < 10

        relay.up()  # the database is back: no restart, no 500 from dead pooled connections
        deadline = time.monotonic() + 20
        while get(f"{server.url}/api/health")[0] != 200:
            assert time.monotonic() < deadline, "the server did not recover"
            time.sleep(0.2)
        statuses = [get(f"{server.url}/api/events/filter", api, body)[0] for _ in range(25)]
        assert statuses == [200] * 25
        assert get(f"{server.url}/", {"Cookie": cookie})[0] == 200
    finally:
        stop_server(server)
