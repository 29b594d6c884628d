"""Fuzz the OpenAPI schema with schemathesis: no generated request, valid or not, may get a 5xx.

Every operation of the served schema gets a bounded number of Hypothesis examples (schemathesis strategies,
positive and negative data), so the run stays well under a minute on two cores. Writes carry a valid key, so
requests reach validation and the handlers rather than stopping at the auth check.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.api.conftest import API_KEY, Running

MAX_EXAMPLES = 25  # per operation, positive and negative data mixed


def fuzz_operation(operation: schemathesis.APIOperation, seen: set[int]) -> None:
    """Run MAX_EXAMPLES generated requests (valid and invalid) against one operation."""
    strategy = st.one_of(operation.as_strategy(mode) for mode in GenerationMode)

    @given(case=strategy)
    @settings(
        max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def fuzz(case: schemathesis.Case) -> None:
        response = case.call_and_validate(
            headers={"Authorization": f"Bearer {API_KEY}"}, checks=[not_a_server_error], timeout=60
        )
        seen.add(response.status_code)

    fuzz()


def test_openapi_fuzz_finds_no_server_errors(lite_server: Running, indexed: dict[str, str]) -> None:
    schema = schemathesis.openapi.from_url(  # the schema is a read: it needs the key like any read
        f"{lite_server.base_url}/openapi.json", headers={"Authorization": f"Bearer {API_KEY}"}
    )
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    statuses: dict[str, set[int]] = {}
    for operation in operations:
        fuzz_operation(operation, statuses.setdefault(operation.label, set()))
    assert all(code < 500 for codes in statuses.values() for code in codes), statuses
    assert 200 in statuses["POST /v1/search"] and 422 in statuses["POST /v1/search"]
