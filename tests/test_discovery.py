from __future__ import annotations

import httpx
import jwt as pyjwt
import pytest

from tests.helpers import client_credentials


async def test_openid_configuration_advertises_what_is_enabled(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/.well-known/openid-configuration")).json()
    assert doc["issuer"] == "http://mock.test"
    assert doc["token_endpoint"] == "http://mock.test/token"
    assert doc["grant_types_supported"] == ["authorization_code", "client_credentials", "refresh_token",
                                            "urn:ietf:params:oauth:grant-type:device_code",
                                            "urn:ietf:params:oauth:grant-type:token-exchange"]
    assert doc["response_types_supported"] == ["code"]
    assert doc["code_challenge_methods_supported"] == ["S256", "plain"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert set(doc["token_endpoint_auth_methods_supported"]) == {"client_secret_basic", "client_secret_post",
                                                                 "client_secret_jwt", "none"}
    assert "accounts" in doc["scopes_supported"]


async def test_rfc8414_document_matches(client: httpx.AsyncClient) -> None:
    oidc = (await client.get("/.well-known/openid-configuration")).json()
    oauth = (await client.get("/.well-known/oauth-authorization-server")).json()
    assert oauth == oidc


async def test_issuer_follows_the_request_host(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/.well-known/openid-configuration", headers={"host": "mock-op-auth:8080"})).json()
    assert doc["issuer"] == "http://mock-op-auth:8080"
    assert doc["jwks_uri"] == "http://mock-op-auth:8080/jwks"


async def test_discovery_without_code_clients_does_not_advertise_authorize(server, client) -> None:
    clients = {"svc": server.config.clients["demo-client"].model_copy(
        update={"grant_types": ["client_credentials"]})}
    server.reload(server.config.model_copy(update={"clients": clients, "resources": []}))
    doc = (await client.get("/.well-known/openid-configuration")).json()
    assert "authorization_endpoint" not in doc
    assert doc["grant_types_supported"] == ["client_credentials"]
    assert "none" not in doc["token_endpoint_auth_methods_supported"]


async def test_tokens_verify_with_the_jwks_found_by_discovery(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/.well-known/openid-configuration")).json()
    jwks = (await client.get(doc["jwks_uri"])).json()
    token = (await client_credentials(client))["access_token"]
    kid = pyjwt.get_unverified_header(token)["kid"]
    key = next(pyjwt.PyJWK(k) for k in jwks["keys"] if k["kid"] == kid)
    claims = pyjwt.decode(token, key.key, algorithms=["RS256"], audience=doc["issuer"], issuer=doc["issuer"])
    assert claims["client_id"] == "demo-client"
    assert all("d" not in k for k in jwks["keys"])  # never a private key


async def test_es256_and_ps256_keys_sign_verifiable_tokens(default_config) -> None:
    from tests.conftest import build_app

    for alg in ("ES256", "PS256"):
        config = default_config.model_copy(update={
            "server": default_config.server.model_copy(update={"signing_alg": alg})})
        app = build_app(config)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test") as c:
            jwks = (await c.get("/jwks")).json()
            token = (await client_credentials(c))["access_token"]
            key = pyjwt.PyJWK(jwks["keys"][0])
            assert pyjwt.get_unverified_header(token)["alg"] == alg
            assert pyjwt.decode(token, key.key, algorithms=[alg], audience="http://mock.test")["sub"] == "demo-client"
            assert (await c.get("/accounts/v3/accounts", headers={"Authorization": f"Bearer {token}",
                                                                 "x-api-key": "demo-client"})).status_code == 200


# Metadata whose omission claims support (OIDC Discovery 1.0 §3, RFC 8414 §2): each must be stated when
# this server does not do what the default says. The omitted-default of each is in the comment.
STATED = {
    "request_uri_parameter_supported": False,  # omitted: true (OIDC Discovery §3)
    "request_parameter_supported": False,  # omitted: false, stated anyway (only PSD2's /oauth/authorize takes one)
    "claims_parameter_supported": False,  # omitted: false
    "response_modes_supported": ["query"],  # omitted: ["query", "fragment"]
    "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token",  # omitted: + implicit
                              "urn:ietf:params:oauth:grant-type:device_code",
                              "urn:ietf:params:oauth:grant-type:token-exchange"],
    "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "client_secret_jwt", "none"],
}


async def test_discovery_states_every_field_whose_default_claims_more(client: httpx.AsyncClient) -> None:
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        doc = (await client.get(path)).json()
        for name, value in STATED.items():
            assert doc.get(name) == value, (path, name)


async def test_request_uri_support_is_denied_without_an_authorization_endpoint_too(server, client) -> None:
    clients = {"svc": server.config.clients["demo-client"].model_copy(update={"grant_types": ["client_credentials"]})}
    server.reload(server.config.model_copy(update={"clients": clients, "resources": []}))
    doc = (await client.get("/.well-known/openid-configuration")).json()
    assert doc["request_uri_parameter_supported"] is False


async def test_protected_resource_metadata_describes_the_resource_stub(client: httpx.AsyncClient) -> None:
    response = await client.get("/.well-known/oauth-protected-resource")
    assert response.status_code == 200
    doc = response.json()
    assert doc["resource"] == "http://mock.test"
    assert doc["authorization_servers"] == ["http://mock.test"]
    assert doc["scopes_supported"] == ["accounts", "payments"]  # what the default fixture's routes need
    assert doc["bearer_methods_supported"] == ["header"]
    assert doc["dpop_signing_alg_values_supported"] == ["ES256", "PS256", "RS256"]
    issuer = (await client.get(f"{doc['authorization_servers'][0]}/.well-known/oauth-authorization-server")).json()
    assert issuer["issuer"] == doc["authorization_servers"][0]


async def test_protected_resource_metadata_follows_the_host_and_the_fixture(server, client) -> None:
    doc = (await client.get("/.well-known/oauth-protected-resource", headers={"host": "mock-op-auth:8080"})).json()
    assert doc["resource"] == "http://mock-op-auth:8080" and doc["authorization_servers"] == ["http://mock-op-auth:8080"]
    server.reload(server.config.model_copy(update={"resources": []}))
    assert (await client.get("/.well-known/oauth-protected-resource")).json()["scopes_supported"] == []


async def test_a_401_of_the_resource_stub_leads_a_client_to_its_authorization_server(client) -> None:
    """RFC 9728 §5: from the challenge's resource_metadata to the metadata, to the AS, to a token."""
    challenge = (await client.get("/accounts/v3/accounts")).headers["www-authenticate"]
    url = challenge.split('resource_metadata="')[1].split('"')[0]
    metadata = (await client.get(url)).json()
    assert metadata["resource"] == "http://mock.test"
    server_doc = (await client.get(metadata["authorization_servers"][0] + "/.well-known/openid-configuration")).json()
    token = (await client.post(server_doc["token_endpoint"], data={"grant_type": "client_credentials",
                                                                   "scope": metadata["scopes_supported"][0]},
                               auth=("demo-client", "demo-secret"))).json()["access_token"]
    assert (await client.get("/accounts/v3/accounts", headers={"Authorization": f"Bearer {token}",
                                                               "x-api-key": "demo-client"})).status_code == 200


async def test_protected_resource_metadata_is_journaled_as_discovery(client: httpx.AsyncClient) -> None:
    await client.get("/.well-known/oauth-protected-resource")
    entries = (await client.get("/_mock/requests", params={"endpoint": "discovery"})).json()["requests"]
    assert [e["path"] for e in entries] == ["/.well-known/oauth-protected-resource"]


@pytest.mark.parametrize("path", ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server",
                                  "/jwks", "/.well-known/oauth-protected-resource", "/oauth/jwks/PSD2_OIDC",
                                  "/psd2/sandbox/jwks/payments/jwks.json"])
async def test_the_documents_answer_head_like_get_without_a_body(client: httpx.AsyncClient, path: str) -> None:
    """RFC 9110 §9.3.2: HEAD is GET without the content (monitors and caches use it)."""
    get, head = await client.get(path), await client.head(path)
    assert get.status_code == head.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"] == "application/json"
    assert head.headers["content-length"] == get.headers["content-length"]


async def test_head_on_a_path_whose_get_has_effects_is_405(client: httpx.AsyncClient) -> None:
    response = await client.head("/authorize", params={"client_id": "demo-client", "response_type": "code"})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
