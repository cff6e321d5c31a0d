from __future__ import annotations

import httpx

from tests.helpers import CLIENT, code_flow, reconfigure


async def refresh(client: httpx.AsyncClient, token: str, **extra: str) -> httpx.Response:
    return await client.post("/token", data={"grant_type": "refresh_token", "refresh_token": token, **extra},
                             auth=CLIENT)


async def test_refresh_rotates_and_counts(client: httpx.AsyncClient) -> None:
    first = await code_flow(client)
    second = (await refresh(client, first["refresh_token"])).json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["refresh_count"] == 1
    third = (await refresh(client, second["refresh_token"])).json()
    assert third["refresh_count"] == 2


async def test_refresh_lifetime_counts_down_from_the_original_issue(client: httpx.AsyncClient, server) -> None:
    first = await code_flow(client)
    server.clock.advance(600)
    second = (await refresh(client, first["refresh_token"])).json()
    assert second["refresh_token_expires_in"] in (1199, 1200)  # 1800 - 600, less the real second the flow may cross


async def test_reuse_of_a_rotated_refresh_token_revokes_the_family(client: httpx.AsyncClient) -> None:
    first = await code_flow(client)
    second = (await refresh(client, first["refresh_token"])).json()
    reuse = await refresh(client, first["refresh_token"])
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    newest = await refresh(client, second["refresh_token"])
    assert newest.json()["error"] == "invalid_grant"
    introspection = await client.post("/introspect", data={"token": second["access_token"]}, auth=CLIENT)
    assert introspection.json() == {"active": False}


async def test_expired_refresh_token_is_invalid_grant(client: httpx.AsyncClient, server) -> None:
    first = await code_flow(client)
    server.clock.advance(1801)
    response = await refresh(client, first["refresh_token"])
    assert response.json()["error"] == "invalid_grant"


async def test_down_scoping_is_allowed_and_up_scoping_refused(client: httpx.AsyncClient) -> None:
    first = await code_flow(client, scope="openid accounts")
    narrower = await refresh(client, first["refresh_token"], scope="accounts")
    assert narrower.status_code == 200 and narrower.json()["scope"] == "accounts"
    wider = await refresh(client, narrower.json()["refresh_token"], scope="accounts payments")
    assert wider.json()["error"] == "invalid_scope"


async def test_unknown_refresh_token_is_invalid_grant(client: httpx.AsyncClient) -> None:
    response = await refresh(client, "made-up")
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


async def test_refresh_token_of_another_client_is_invalid_grant(client: httpx.AsyncClient) -> None:
    first = await code_flow(client)
    response = await client.post("/token", data={"grant_type": "refresh_token", "client_id": "demo-public",
                                                "refresh_token": first["refresh_token"]})
    assert response.json()["error"] == "invalid_grant"


async def test_refresh_with_openid_returns_a_new_id_token(client: httpx.AsyncClient) -> None:
    first = await code_flow(client)
    second = (await refresh(client, first["refresh_token"])).json()
    assert second["id_token"] != first["id_token"]


async def test_without_rotation_the_same_refresh_token_is_returned(client: httpx.AsyncClient, server) -> None:
    reconfigure(server, refresh_rotation=False)
    first = await code_flow(client)
    second = (await refresh(client, first["refresh_token"])).json()
    assert second["refresh_token"] == first["refresh_token"]
    assert second["refresh_count"] == 1
    third = (await refresh(client, first["refresh_token"])).json()
    assert third["refresh_count"] == 2


async def queue(client: httpx.AsyncClient, **action: object) -> None:
    rule = {"match": {"endpoint": "token", "grant_type": "refresh_token"}, "times": 1, **action}
    assert (await client.post("/_mock/rules", json=rule)).status_code == 201


PENDING_BODY = {"access_token", "token_type", "expires_in", "scope", "status"}


async def test_a_pending_refresh_is_no_refresh_for_the_limit_or_the_count(client: httpx.AsyncClient, server) -> None:
    reconfigure(server, max_refresh_count=1)
    first = await code_flow(client)
    await queue(client, status="pending")
    pending = (await refresh(client, first["refresh_token"])).json()
    assert pending["status"] == "pending" and set(pending) == PENDING_BODY
    approved = (await refresh(client, first["refresh_token"])).json()  # the one refresh the limit allows
    assert approved["status"] == "approved" and approved["refresh_count"] == 1
    limited = await refresh(client, approved["refresh_token"])
    assert limited.status_code == 400 and "refresh limit of 1" in limited.json()["error_description"]


async def test_without_rotation_answers_have_the_shape_they_have_with_it(client: httpx.AsyncClient, server) -> None:
    reconfigure(server, refresh_rotation=False)
    first = await code_flow(client, scope="openid accounts")
    await queue(client, status="pending")
    pending = (await refresh(client, first["refresh_token"])).json()
    assert pending["status"] == "pending" and set(pending) == PENDING_BODY
    await queue(client, token={"refresh_token": False})
    assert "refresh_token" not in (await refresh(client, first["refresh_token"])).json()
    approved = (await refresh(client, first["refresh_token"])).json()
    assert approved["refresh_token"] == first["refresh_token"] and approved["id_token"]
    assert approved["refresh_count"] == 2  # the refresh without a new refresh token counted, the pending one not
