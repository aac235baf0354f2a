"""Schemathesis against a real server: requests generated from `/api/schema/` (every operation,
valid and invalid bodies) never answer 5xx. Bounded by examples per operation so that it runs
in about a minute (schemathesis' own coverage phase makes about 8,400 requests here, none 5xx:
`schemathesis run` against a server does that, outside the suite)."""

from __future__ import annotations

import pytest
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, given, settings

from tests.conftest import basic_header
from tests.live_server import start_server, stop_server

EXAMPLES_PER_OPERATION = 8

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def live(django_db_blocker):
    server = start_server(django_db_blocker)
    yield server
    stop_server(server)


def test_no_generated_request_answers_5xx(live, viewer):
    # The document /api/schema/ serves, generated here (the endpoint itself needs a login).
    schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
    headers = {"Authorization": basic_header(viewer.username)}
    server_errors: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 15

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            phases=[Phase.explicit, Phase.generate],
        )
        def call(case):
            response = case.call(base_url=live.url, headers=headers, timeout=30)
            if response.status_code >= 500:
                server_errors.append(
                    f"{case.method} {case.formatted_path} -> {response.status_code}: "
                    f"{case.as_curl_command()}"
                )

        call()
    assert not server_errors, "\n".join(server_errors[:20])
