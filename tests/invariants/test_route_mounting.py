"""Route mounting (docs/performance.md): guards and dependency overrides still apply."""

from __future__ import annotations

import httpx

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
