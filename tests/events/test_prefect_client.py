"""A stock `prefect` 3 client, pointed at a real server process, delivers its events here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from eventsui.events.models import Event, EventResource
from tests.conftest import PASSWORD
from tests.live_server import start_server, stop_server

pytestmark = pytest.mark.django_db(transaction=True)

EMIT = textwrap.dedent(
    """
    import json, sys
    from prefect.events import emit_event
    from prefect.events.worker import EventsWorker

    ids = []
    for i in range(int(sys.argv[1])):
        event = emit_event(
            event="prefect.worker.started" if i % 2 == 0 else "prefect.worker.stopped",
            resource={
                "prefect.resource.id": "prefect.worker.process.from-prefect",
                "prefect.resource.name": "from-prefect",
                "prefect.worker-type": "process",
            },
            related=[{"prefect.resource.id": "prefect.work-pool.p1", "prefect.resource.role": "work-pool"}],
            payload={"i": i},
        )
        ids.append(str(event.id) if event else None)
    EventsWorker.drain_all(timeout=30)
    print(json.dumps(ids))
    """
)


@pytest.fixture
def live(django_db_blocker):
    server = start_server(django_db_blocker)
    yield server
    stop_server(server)


def run_prefect(server, auth: str, count: int) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PREFECT_HOME": "/tmp/eventsui-prefect-home",
        "PREFECT_API_URL": f"{server.url}/api",
        "PREFECT_API_AUTH_STRING": auth,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    return subprocess.run(
        [sys.executable, "-c", EMIT, str(count)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_stock_prefect_client_delivers_emit_event_calls(live, viewer):
    result = run_prefect(live, f"{viewer.username}:{PASSWORD}", 25)
    assert result.returncode == 0, result.stderr[-2000:]
    ids = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(ids) == 25 and all(ids)
    assert wait_for(lambda: Event.objects.filter(id__in=ids).count() == 25)
    stored = Event.objects.get(id=ids[3])
    assert stored.event == "prefect.worker.stopped"
    assert stored.payload == {"i": 3}
    assert EventResource.objects.filter(event_id=ids[3], role="work-pool").exists()


def test_prefect_client_with_wrong_password_delivers_nothing(live, viewer):
    result = run_prefect(live, f"{viewer.username}:wrong-password", 3)
    ids = (
        [i for i in json.loads(result.stdout.strip().splitlines()[-1] or "[]") if i]
        if result.stdout.strip()
        else []
    )
    time.sleep(1.0)
    assert Event.objects.filter(id__in=ids).count() == 0
    assert Event.objects.count() == 0
