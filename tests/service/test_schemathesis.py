"""schemathesis against the served OpenAPI document: no 5xx, every response as declared.

Each generated request is sent three times, to the app on a copy of the seeded store: with the
token of the agency's release officer, with that of partner A's officer, and with a token that
does not exist (every 401 must be as declared too).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from .conftest import AO, REL, Api

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture()
def api_schema(api: Api) -> Iterator[schemathesis.BaseSchema]:
    yield schemathesis.openapi.from_asgi("/openapi.json", api.client.app)


@pytest.fixture()
def tokens(api: Api) -> dict[str, str]:
    valid = {user: api.headers(user)["Authorization"] for user in (REL, AO)}
    return {**valid, "unknown": "Bearer vga_" + "0" * 43}


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
def test_api_conforms_to_its_schema(case: schemathesis.Case, tokens: dict[str, str]) -> None:
    for token in tokens.values():
        case.call_and_validate(headers={"Authorization": token}, checks=CHECKS)
