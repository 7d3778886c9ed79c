"""Schemathesis over the whole API, in process: no generated request may cause a server error.

Every operation of the OpenAPI schema is exercised as the workspace owner with generated
input (schema-conforming and not); the checks are that the answer is never a 5xx and that
every status code returned is one the schema documents.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import status_code_conformance

from cctest.personas import World

EXAMPLES_PER_OPERATION = 15


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_api_never_fails_with_a_server_error(app: FastAPI, world: World) -> None:
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            failures.append(f"the schema has an invalid operation: {result.err()}")
            continue
        operation = result.ok()
        operations += 1

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def exercise(case: schemathesis.Case[Any]) -> None:
            case.call_and_validate(
                headers=world.owner.auth, checks=[not_a_server_error, status_code_conformance]
            )

        try:
            exercise()
        except (Exception, BaseExceptionGroup) as exc:
            failures.append(f"{operation.label}: {str(exc)[:800]}")
    assert operations > 40
    assert not failures, "\n\n".join(failures)
