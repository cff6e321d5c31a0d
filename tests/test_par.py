"""Pushed authorization requests (RFC 9126): /par, single-use expiring request_uri, and the
clients and servers that require them."""

from __future__ import annotations

import httpx

from tests.dpop_helpers import ProofKey
from tests.helpers import CLIENT, REDIRECT, pkce_pair, query_of, reconfigure
from tests.html_forms import form_with

PUSHED = {"response_type": "code", "redirect_uri": REDIRECT, "scope": "openid accounts", "state": "pushed-state"}


async def push(client: httpx.AsyncClient, auth: tuple[str, str] | None = CLIENT, **params: str) -> httpx.Response:
    return await client.post("/par", data={**PUSHED, **params}, auth=auth)


async def request_uri(client: httpx.AsyncClient, **params: str) -> str:
    response = await push(client, **params)
    assert response.status_code == 201, response.text
    return str(response.json()["request_uri"])


async def authorize(client: httpx.AsyncClient, uri: str, client_id: str = "demo-client",
                    **extra: str) -> httpx.Response:
    return await client.get("/authorize", params={"client_id": client_id, "request_uri": uri, **extra})


def error_page(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("text/html") and "location" not in response.headers
    return response.text


async def test_push_answers_a_request_uri_and_its_lifetime(client: httpx.AsyncClient) -> None:
    response = await push(client)
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"request_uri", "expires_in"} and body["expires_in"] == 60
    assert body["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
    assert response.headers["cache-control"] == "no-store"


async def test_the_pushed_request_is_what_authorize_answers(client: httpx.AsyncClient) -> None:
    uri = await request_uri(client)
    response = await authorize(client, uri, state="ignored", scope="payments", redirect_uri="http://evil.example/")
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?")
    params = query_of(location)
    assert params["state"] == "pushed-state" and params["iss"] == "http://mock.test"
    redeemed = await client.post("/token", data={"grant_type": "authorization_code", "code": params["code"],
                                                  "redirect_uri": REDIRECT}, auth=CLIENT)
    assert redeemed.status_code == 200 and redeemed.json()["scope"] == "openid accounts"


async def test_a_request_uri_is_used_once(client: httpx.AsyncClient) -> None:
    uri = await request_uri(client)
    assert (await authorize(client, uri)).status_code == 302
    assert "request_uri is unknown, expired, already used" in error_page(await authorize(client, uri))


async def test_an_expired_request_uri_is_an_error_page(client: httpx.AsyncClient) -> None:
    uri = await request_uri(client)
    await client.post("/_mock/clock", json={"advance": 61})
    error_page(await authorize(client, uri))


async def test_another_clients_or_an_unknown_request_uri_is_an_error_page(client: httpx.AsyncClient) -> None:
    uri = await request_uri(client)
    error_page(await authorize(client, uri, client_id="demo-public"))
    error_page(await authorize(client, "urn:ietf:params:oauth:request_uri:never-pushed"))
    error_page(await client.get("/authorize", params={"request_uri": uri}))  # no client_id
    assert (await authorize(client, uri)).status_code == 302  # the refusals did not use it up


async def test_a_public_client_pushes_with_pkce(client: httpx.AsyncClient) -> None:
    verifier, challenge = pkce_pair()
    response = await push(client, auth=None, client_id="demo-public", code_challenge=challenge,
                          code_challenge_method="S256")
    uri = response.json()["request_uri"]
    code = query_of((await authorize(client, uri, client_id="demo-public")).headers["location"])["code"]
    token = await client.post("/token", data={"grant_type": "authorization_code", "client_id": "demo-public",
                                              "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier})
    assert token.status_code == 200, token.text
    without = await push(client, auth=None, client_id="demo-public")
    assert without.status_code == 400 and without.json()["error"] == "invalid_request"  # PKCE is required


async def test_bad_pushes_answer_json_errors_never_redirects(client: httpx.AsyncClient) -> None:
    cases = [
        (await push(client, auth=("demo-client", "wrong")), 401, "invalid_client"),
        (await push(client, auth=None, client_id="nobody"), 401, "invalid_client"),
        (await push(client, request_uri="urn:ietf:params:oauth:request_uri:x"), 400, "invalid_request"),
        (await push(client, redirect_uri="http://evil.example/cb"), 400, "invalid_request"),
        (await push(client, scope="admin"), 400, "invalid_scope"),
        (await push(client, response_type="token"), 400, "unsupported_response_type"),
    ]
    for response, status, error in cases:
        assert (response.status_code, response.json()["error"]) == (status, error), response.text
        assert "location" not in response.headers
    assert (await client.get("/par")).status_code == 405
    as_json = await client.post("/par", json=PUSHED, auth=CLIENT)
    assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"


async def test_a_client_that_requires_par_is_refused_a_plain_request(server, client: httpx.AsyncClient) -> None:
    clients = {**server.config.clients, "demo-client": server.config.clients["demo-client"].model_copy(
        update={"require_pushed_authorization_requests": True})}
    server.reload(server.config.model_copy(update={"clients": clients}))
    plain = await client.get("/authorize", params={"client_id": "demo-client", **PUSHED})
    assert plain.status_code == 302
    params = query_of(plain.headers["location"])
    assert params["error"] == "invalid_request" and "/par" in params["error_description"]
    assert (await authorize(client, await request_uri(client))).status_code == 302
    public = await client.get("/authorize", params={"client_id": "demo-public", **PUSHED, "code_challenge": "x" * 43,
                                                    "code_challenge_method": "S256"})
    assert "code" in query_of(public.headers["location"])  # the other client is not affected


async def test_server_require_par_applies_to_every_client_and_is_advertised(server, client) -> None:
    doc = (await client.get("/.well-known/openid-configuration")).json()
    assert doc["pushed_authorization_request_endpoint"] == "http://mock.test/par"
    assert doc["require_pushed_authorization_requests"] is False
    reconfigure(server, require_par=True)
    doc = (await client.get("/.well-known/openid-configuration")).json()
    assert doc["require_pushed_authorization_requests"] is True
    plain = await client.get("/authorize", params={"client_id": "demo-client", **PUSHED})
    assert query_of(plain.headers["location"])["error"] == "invalid_request"


async def test_without_code_clients_par_is_not_advertised(server, client: httpx.AsyncClient) -> None:
    clients = {"svc": server.config.clients["demo-client"].model_copy(update={"grant_types": ["client_credentials"]})}
    server.reload(server.config.model_copy(update={"clients": clients, "resources": []}))
    doc = (await client.get("/.well-known/openid-configuration")).json()
    assert "pushed_authorization_request_endpoint" not in doc and "require_pushed_authorization_requests" not in doc


async def test_a_pushed_request_waits_on_the_login_page_and_is_used_there(server, client) -> None:
    reconfigure(server, login="page")
    uri = await request_uri(client)
    page = await authorize(client, uri)
    assert page.status_code == 200 and "Demo Client" in page.text
    error_page(await authorize(client, uri))  # the page used it up
    decision = await client.post("/authorize/decision", data=form_with(page.text, "Bob Example").submit("Bob Example"))
    assert decision.status_code == 302 and query_of(decision.headers["location"])["state"] == "pushed-state"


async def test_pushes_are_journaled_and_scripted_as_par(client: httpx.AsyncClient) -> None:
    rule = {"match": {"endpoint": "par"}, "error": {"error": "temporarily_unavailable", "status": 503}, "times": 1}
    await client.post("/_mock/rules", json=rule)
    failed = await push(client)
    assert failed.status_code == 503 and failed.json()["error"] == "temporarily_unavailable"
    await request_uri(client)
    entries = (await client.get("/_mock/requests", params={"endpoint": "par"})).json()["requests"]
    assert [(e["status"], e["client_id"]) for e in entries] == [(503, "demo-client"), (201, "demo-client")]


async def test_a_dpop_proof_at_par_binds_the_code_to_its_key(client: httpx.AsyncClient) -> None:
    """RFC 9449 §10.1: a proof with the push works as dpop_jkt."""
    key = ProofKey()
    pushed = await client.post("/par", data=PUSHED, auth=CLIENT,
                               headers={"DPoP": key.proof("POST", "http://mock.test/par")})
    assert pushed.status_code == 201, pushed.text
    code = query_of((await authorize(client, pushed.json()["request_uri"])).headers["location"])["code"]
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    unbound = await client.post("/token", data=data, auth=CLIENT)
    assert unbound.status_code == 400 and unbound.json()["error"] == "invalid_dpop_proof"
    bound = await client.post("/token", data=data, auth=CLIENT,
                              headers={"DPoP": key.proof("POST", "http://mock.test/token")})
    assert bound.status_code == 200 and bound.json()["token_type"] == "DPoP"


async def test_a_dpop_proof_at_par_must_match_dpop_jkt_and_hold(client: httpx.AsyncClient) -> None:
    key = ProofKey()
    other = await client.post("/par", data={**PUSHED, "dpop_jkt": ProofKey().jkt}, auth=CLIENT,
                              headers={"DPoP": key.proof("POST", "http://mock.test/par")})
    assert other.status_code == 400 and other.json()["error"] == "invalid_dpop_proof"
    wrong_htu = await client.post("/par", data=PUSHED, auth=CLIENT,
                                  headers={"DPoP": key.proof("POST", "http://mock.test/token")})
    assert wrong_htu.status_code == 400 and "htu" in wrong_htu.json()["error_description"]


async def test_a_pushed_request_too_long_to_keep_is_refused(client: httpx.AsyncClient) -> None:
    response = await push(client, state="s" * 9000)
    assert response.status_code == 400 and "longer than" in response.json()["error_description"]
