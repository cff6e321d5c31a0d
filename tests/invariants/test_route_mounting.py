"""Route mounting (docs/performance.md): guards and dependency overrides still apply."""

from __future__ import annotations

import re
import warnings

import httpx
import pytest

from mock_op_auth import create_app
from mock_op_auth.settings import Settings


async def test_admin_token_still_guards_the_control_api_but_not_health() -> None:
    app = create_app(settings=Settings(admin_token="s3cret"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test") as client:
        assert (await client.post("/_mock/reset")).status_code == 401
        assert (await client.get("/_mock/requests")).status_code == 401
        assert (await client.post("/_mock/reset", headers={"authorization": "Bearer s3cret"})).status_code == 200
        assert (await client.get("/_mock/health")).status_code == 200


async def test_unknown_paths_still_reach_the_resource_stub(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/path")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


async def test_dependency_overrides_still_reach_routes_with_dependencies() -> None:
    from fastapi import HTTPException

    from mock_op_auth.http.deps import get_server

    async def unavailable() -> None:
        raise HTTPException(503, "overridden")

    app = create_app()
    app.dependency_overrides[get_server] = unavailable
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test") as client:
        assert (await client.post("/_mock/reset")).status_code == 503
        assert (await client.get("/_mock/clock")).status_code == 503


# A known path with a wrong method is 405 with Allow (RFC 9110 §15.5.6), whichever routes serve the path.

@pytest.mark.parametrize(("method", "path", "allow"), [
    ("GET", "/authorize/decision", "POST"),
    ("GET", "/token", "POST"),
    ("PUT", "/authorize", "GET, POST"),
    ("POST", "/jwks", "GET, HEAD"),
    ("DELETE", "/_mock/clock", "GET, POST"),
    ("GET", "/_mock/reset", "POST"),
    ("PUT", "/accounts-psd2/v1/authorizations/some-id", "DELETE, GET"),
    ("DELETE", "/accounts/v3/accounts", "GET, HEAD"),
    ("GET", "/payments/v1/payments", "POST"),
])
async def test_a_known_path_with_a_wrong_method_is_405_with_allow(client: httpx.AsyncClient, method: str, path: str,
                                                                 allow: str) -> None:
    response = await client.request(method, path)
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == allow
    assert response.json()["error"] == "method_not_allowed"


async def test_every_known_path_answers_a_wrong_method_with_405(app, client: httpx.AsyncClient) -> None:
    """Every path of the OpenAPI document (the control API's included) and of the fixture's resources."""
    with warnings.catch_warnings():  # FastAPI warns on the two GET+POST routes' shared operation id
        warnings.simplefilter("ignore", UserWarning)
        documented = app.openapi()["paths"]
    paths: dict[str, set[str]] = {}
    for path, operations in documented.items():
        paths.setdefault(re.sub(r"{[^}]+}", "some-id", path), set()).update(m.upper() for m in operations)
    for route in app.state.server.config.resources:
        paths.setdefault(re.sub(r"{[^}]+}", "some-id", route.path), set()).update(route.methods)
    assert {"/authorize/decision", "/_mock/clock", "/_mock/tokens/live/some-id", "/accounts/v3/accounts"} <= set(paths)
    for path, methods in paths.items():
        wrong = next(m for m in ("PATCH", "PUT", "DELETE", "POST", "GET") if m not in methods)
        response = await client.request(wrong, path)
        assert response.status_code == 405, (wrong, path, response.status_code)
        assert set(response.headers["allow"].split(", ")) - {"HEAD"} == methods, (wrong, path)
