"""CORS for browser clients (DESIGN §9): preflights and answers, errors included, for the origins a
client may call from; the control API only for ``server.cors_origins``."""

from __future__ import annotations

import httpx
import pytest

from mock_op_auth.config.loader import load_fixtures
from mock_op_auth.config.schema import Config
from mock_op_auth.errors import FixtureError
from tests.conftest import build_app
from tests.helpers import CLIENT, client_credentials

SPA = "http://localhost:8000"  # the origin of demo-client's and demo-public's redirect URI
PATHS = ["/token", "/userinfo", "/jwks", "/.well-known/openid-configuration", "/introspect", "/revoke",
         "/oauth/token", "/auth/v2/accesstoken", "/corporate-oidc/v1/token", "/accounts/v3/accounts"]


def preflight(origin: str, method: str = "POST", headers: str = "authorization, content-type") -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers}


def with_server(config: Config, **changes: object) -> Config:
    return config.model_copy(update={"server": config.server.model_copy(update=changes)})


def two_spas(config: Config) -> Config:
    """Two confidential clients (demo-client's copies), each with its own origin."""
    base = config.clients["demo-client"]
    clients = {**config.clients,
               "spa-a": base.model_copy(update={"allowed_origins": ["https://a.example"], "api_key": "spa-a"}),
               "spa-b": base.model_copy(update={"allowed_origins": ["https://b.example"], "api_key": "spa-b"})}
    return config.model_copy(update={"clients": clients})


@pytest.mark.parametrize("path", PATHS)
async def test_a_preflight_from_a_clients_origin_is_allowed(client: httpx.AsyncClient, path: str) -> None:
    response = await client.options(path, headers=preflight(SPA, headers="Authorization, DPoP, x-api-key"))
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == SPA
    assert "POST" in response.headers["access-control-allow-methods"]
    assert response.headers["access-control-allow-headers"] == "Authorization, DPoP, x-api-key"
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "Origin" in response.headers["vary"]


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "*", "https://localhost:8000", "localhost:8000",
                                    "http://localhost:8000/callback"])
async def test_a_preflight_from_another_origin_is_refused(client: httpx.AsyncClient, origin: str) -> None:
    response = await client.options("/token", headers=preflight(origin))
    assert response.status_code == 403
    assert response.json()["error"] == "invalid_request"
    assert "access-control-allow-origin" not in response.headers


async def test_a_token_answer_names_the_origin_and_exposes_headers(client: httpx.AsyncClient) -> None:
    response = await client.post("/token", data={"grant_type": "client_credentials"}, auth=CLIENT,
                                 headers={"Origin": SPA})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == SPA
    exposed = response.headers["access-control-expose-headers"]
    assert "WWW-Authenticate" in exposed and "DPoP-Nonce" in exposed
    assert response.headers["vary"] == "Origin"


async def test_errors_carry_cors_headers_too(client: httpx.AsyncClient) -> None:
    bad = await client.post("/token", data={"grant_type": "client_credentials"}, auth=("demo-client", "wrong"),
                            headers={"Origin": SPA})
    assert bad.status_code == 401 and bad.headers["access-control-allow-origin"] == SPA
    userinfo = await client.get("/userinfo", headers={"Origin": SPA, "Authorization": "Bearer nope"})
    assert userinfo.status_code == 401 and userinfo.headers["access-control-allow-origin"] == SPA
    assert "www-authenticate" in userinfo.headers
    resource = await client.get("/accounts/v3/accounts", headers={"Origin": SPA})
    assert resource.status_code == 401 and resource.headers["access-control-allow-origin"] == SPA


async def test_an_answer_to_another_origin_has_no_allow_origin(client: httpx.AsyncClient) -> None:
    for origin in ("https://evil.example", "null"):
        response = await client.get("/jwks", headers={"Origin": origin})
        assert response.status_code == 200  # the browser, not the server, withholds it
        assert "access-control-allow-origin" not in response.headers
        assert response.headers["vary"] == "Origin"


async def test_the_token_endpoint_answers_the_authenticating_clients_origins_only(default_config, rsa_key) -> None:
    app = build_app(two_spas(default_config), rsa_key)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test") as c:
        form = {"grant_type": "client_credentials"}
        own = await c.post("/token", data=form, auth=("spa-a", "demo-secret"), headers={"Origin": "https://a.example"})
        assert own.status_code == 200 and own.headers["access-control-allow-origin"] == "https://a.example"
        other = await c.post("/token", data=form, auth=("spa-a", "demo-secret"), headers={"Origin": "https://b.example"})
        assert other.status_code == 200 and "access-control-allow-origin" not in other.headers
        # a preflight names no client: any client's origin passes it
        assert (await c.options("/token", headers=preflight("https://b.example"))).status_code == 204
        # allowed_origins replaces the redirect URIs' origins
        assert (await c.options("/token", headers=preflight("https://a.example"))).status_code == 204


async def test_userinfo_answers_the_origins_of_the_tokens_client(default_config, rsa_key) -> None:
    app = build_app(two_spas(default_config), rsa_key)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test") as c:
        token = (await c.post("/_mock/tokens", json={"client_id": "spa-a", "sub": "alice",
                                                    "scope": "openid"})).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        ok = await c.get("/userinfo", headers={**auth, "Origin": "https://a.example"})
        assert ok.headers["access-control-allow-origin"] == "https://a.example"
        other = await c.get("/userinfo", headers={**auth, "Origin": "https://b.example"})
        assert other.status_code == 200 and "access-control-allow-origin" not in other.headers


async def test_a_loopback_redirect_uri_allows_its_host_on_any_port(client: httpx.AsyncClient) -> None:
    # demo-public registers http://127.0.0.1/callback, which matches any port (RFC 8252 §7.3)
    response = await client.options("/token", headers=preflight("http://127.0.0.1:5173"))
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "http://127.0.0.1:5173"
    assert (await client.options("/token", headers=preflight("https://127.0.0.1:5173"))).status_code == 403


async def test_cors_origins_star_reflects_any_origin_without_credentials(default_config, rsa_key) -> None:
    app = build_app(with_server(default_config, cors_origins="*"), rsa_key)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test") as c:
        response = await c.options("/token", headers=preflight("https://anyone.example"))
        assert response.status_code == 204
        assert response.headers["access-control-allow-origin"] == "https://anyone.example"
        assert "access-control-allow-credentials" not in response.headers
        named = await c.get("/jwks", headers={"Origin": SPA})
        assert named.headers["access-control-allow-credentials"] == "true"  # a fixture's own origin keeps them
        assert (await c.options("/token", headers=preflight("null"))).status_code == 403
        control = await c.get("/_mock/clock", headers={"Origin": "https://anyone.example"})
        assert control.headers["access-control-allow-origin"] == "https://anyone.example"


async def test_another_site_cannot_reset_or_rotate_a_mock_without_an_admin_token(client: httpx.AsyncClient,
                                                                                  default_config, rsa_key) -> None:
    """A reset or a rotation is a CORS "simple" request: any page could send it, blind, and do it."""
    token = (await client.post("/token", data={"grant_type": "client_credentials"}, auth=CLIENT)).json()["access_token"]
    kid = (await client.get("/jwks")).json()["keys"][0]["kid"]
    cross_site = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    for path in ("/_mock/reset", "/_mock/keys/rotate"):
        refused = await client.post(path, headers=cross_site)
        assert refused.status_code == 403 and "another site may not change the mock" in refused.text
    assert (await client.post("/introspect", data={"token": token}, auth=CLIENT)).json()["active"] is True
    assert [k["kid"] for k in (await client.get("/jwks")).json()["keys"]] == [kid]
    assert (await client.get("/_mock/clock", headers=cross_site)).status_code == 200  # reading changes nothing
    assert (await client.post("/_mock/reset", headers={"Sec-Fetch-Site": "same-site"})).status_code == 200
    app = build_app(with_server(default_config, cors_origins=["https://evil.example"]), rsa_key)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test") as named:
        assert (await named.post("/_mock/reset", headers=cross_site)).status_code == 200  # a listed origin may


async def test_the_control_api_answers_only_server_cors_origins(client: httpx.AsyncClient, default_config,
                                                                rsa_key) -> None:
    refused = await client.get("/_mock/clock", headers={"Origin": SPA})
    assert refused.status_code == 200 and "access-control-allow-origin" not in refused.headers
    assert (await client.options("/_mock/rules", headers=preflight(SPA))).status_code == 405
    app = build_app(with_server(default_config, cors_origins=["http://dashboard.test:3000"]), rsa_key)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test") as c:
        allowed = await c.options("/_mock/rules", headers=preflight("http://dashboard.test:3000"))
        assert allowed.status_code == 204
        assert allowed.headers["access-control-allow-origin"] == "http://dashboard.test:3000"
        answer = await c.get("/_mock/clock", headers={"Origin": "http://dashboard.test:3000"})
        assert answer.headers["access-control-allow-origin"] == "http://dashboard.test:3000"
        assert "access-control-allow-origin" not in (await c.get("/_mock/clock", headers={"Origin": SPA})).headers
        protocol = await c.get("/jwks", headers={"Origin": "http://dashboard.test:3000"})  # listed: everywhere
        assert protocol.headers["access-control-allow-origin"] == "http://dashboard.test:3000"


async def test_the_front_channel_has_no_cors(client: httpx.AsyncClient) -> None:
    response = await client.get("/authorize", params={"client_id": "demo-client"}, headers={"Origin": SPA})
    assert "access-control-allow-origin" not in response.headers
    assert (await client.options("/authorize", headers=preflight(SPA))).status_code == 405


async def test_a_request_without_origin_is_unchanged_but_varies(client: httpx.AsyncClient) -> None:
    body = await client_credentials(client)
    assert body["token_type"] == "Bearer"
    response = await client.get("/.well-known/openid-configuration")
    assert response.headers["vary"] == "Origin" and "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize(("where", "value"), [
    ("clients.web.allowed_origins", ["https://app.example/path"]),
    ("clients.web.allowed_origins", ["*"]),
    ("clients.web.allowed_origins", ["null"]),
    ("clients.web.allowed_origins", ["https://app.example/"]),
    ("server.cors_origins", ["null"]),
    ("server.cors_origins", "any"),
])
def test_fixtures_refuse_what_is_not_an_origin(tmp_path, where: str, value: object) -> None:
    import yaml

    doc: dict = {"server": {}, "clients": {"web": {"redirect_uris": ["https://app.example/cb"]}}}
    section, *rest = where.split(".")
    target = doc[section]
    for key in rest[:-1]:
        target = target[key]
    target[rest[-1]] = value
    path = tmp_path / "f.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(FixtureError) as err:
        load_fixtures(path)
    assert where in str(err.value)
