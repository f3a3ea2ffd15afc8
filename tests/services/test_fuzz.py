"""Property-based fuzz of the OpenAPI schema against a real server: no input gets a 500.

Every operation of the server's own /openapi.json gets a bounded number of generated requests
(schemathesis strategies driven by hypothesis); every 4xx must carry the JSON error shape.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.services.conftest import TOKENS, Server

pytestmark = pytest.mark.slow
AUTH = {"Authorization": f"Bearer {TOKENS['alice']}"}
EXAMPLES = int(os.environ.get("LABLOOP_FUZZ_EXAMPLES", "30"))


def test_no_generated_input_gets_a_server_error(server: Server) -> None:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    statuses: list[int] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def no_server_error(case: Any) -> None:
            response = case.call(headers=AUTH, timeout=30)
            statuses.append(response.status_code)
            where = f"{case.method} {case.formatted_path}"
            assert response.status_code < 500, (where, response.status_code, response.text[:500], server.tail())
            if 400 <= response.status_code < 500:
                assert set(response.json()["error"]) == {"code", "message"}, (where, response.text)

        no_server_error()
    assert len(statuses) >= 5 * len(operations)  # it really generated requests
    assert {200, 404, 422} <= set(statuses)
