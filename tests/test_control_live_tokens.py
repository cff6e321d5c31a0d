"""GET /_mock/tokens/live and DELETE /_mock/tokens/live/{id}: live tokens, named without the token."""

from __future__ import annotations

import httpx

from mock_op_auth import create_app
from mock_op_auth.settings import Settings
from tests.helpers import CLIENT, client_credentials, code_flow


async def test_live_tokens_lists_issued_tokens_newest_first_without_the_token(client: httpx.AsyncClient) -> None:
    first = (await client_credentials(client))["access_token"]
    await client.post("/_mock/clock", json={"advance": 5})
    await code_flow(client)
    response = await client.get("/_mock/tokens/live")
    assert response.status_code == 200
    tokens = response.json()["tokens"]
    assert [t["sub"] for t in tokens] == ["alice", "demo-client"]
    assert tokens[1]["scope"] == "accounts" and tokens[1]["status"] == "approved"
    assert 0 < tokens[1]["expires_in"] <= 3600
    assert first not in response.text


async def test_revoking_by_id_makes_the_token_inactive(client: httpx.AsyncClient) -> None:
    token = (await client_credentials(client))["access_token"]
    [live] = (await client.get("/_mock/tokens/live")).json()["tokens"]
    assert (await client.delete(f"/_mock/tokens/live/{live['id']}")).status_code == 204
    assert (await client.post("/introspect", data={"token": token}, auth=CLIENT)).json() == {"active": False}
    assert (await client.get("/_mock/tokens/live")).json()["tokens"] == []
    assert (await client.delete(f"/_mock/tokens/live/{live['id']}")).status_code == 404


async def test_expired_tokens_are_not_live(client: httpx.AsyncClient) -> None:
    await client_credentials(client)
    await client.post("/_mock/clock", json={"advance": 3600})
    assert (await client.get("/_mock/tokens/live")).json()["tokens"] == []


async def test_live_tokens_need_the_admin_token_when_set() -> None:
    app = create_app(settings=Settings(admin_token="s3cret"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test") as client:
        assert (await client.get("/_mock/tokens/live")).status_code == 401
        ok = await client.get("/_mock/tokens/live", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
