"""Schemathesis against the app's own OpenAPI document (/_mock/openapi.json): a quick profile of
generated requests, every one answered without a 5xx and in the shape its schema declares."""

from __future__ import annotations

import warnings

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from mock_op_auth import create_app


def fuzzed_app() -> FastAPI:
    app = create_app()
    with warnings.catch_warnings():  # FastAPI warns on the two GET+POST routes' shared operation id
        warnings.simplefilter("ignore", UserWarning)
        app.openapi()  # cached on the app, so /_mock/openapi.json serves it without warning again
    return app


schema = schemathesis.openapi.from_asgi("/_mock/openapi.json", fuzzed_app())


@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_error_and_every_response_matches_its_schema(case) -> None:  # type: ignore[no-untyped-def]
    case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])
