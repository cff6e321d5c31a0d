"""A standard OAuth client library (Authlib) completes every flow with no special handling,
and PyJWT verifies the ID token through the JWKS it finds in discovery."""

from __future__ import annotations

import httpx
import jwt as pyjwt
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client

from tests.helpers import REDIRECT, query_of

BASE = "http://mock.test"


def oauth_client(app, **kwargs) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(transport=httpx.ASGITransport(app=app), base_url=BASE, **kwargs)


async def test_authlib_client_credentials_and_resource_call(app) -> None:
    async with oauth_client(app, client_id="demo-client", client_secret="demo-secret", scope="accounts") as c:
        token = await c.fetch_token(f"{BASE}/token", grant_type="client_credentials")
        assert token["token_type"] == "Bearer"
        response = await c.get("/accounts/v3/accounts", headers={"x-api-key": "demo-client"})
        assert response.status_code == 200


async def test_authlib_code_flow_with_pkce_refresh_introspect_revoke(app) -> None:
    verifier = generate_token(48)
    async with oauth_client(app, client_id="demo-public", redirect_uri=REDIRECT, scope="openid profile accounts",
                            code_challenge_method="S256", token_endpoint_auth_method="none") as c:
        url, state = c.create_authorization_url(f"{BASE}/authorize", code_verifier=verifier, nonce="abc")
        redirect = await c.request("GET", url, withhold_token=True)
        assert redirect.status_code == 302
        callback = redirect.headers["location"]
        assert query_of(callback)["state"] == state
        token = await c.fetch_token(f"{BASE}/token", authorization_response=callback, code_verifier=verifier)
        assert "id_token" in token and "refresh_token" in token

        doc = (await c.request("GET", "/.well-known/openid-configuration", withhold_token=True)).json()
        keys = (await c.request("GET", doc["jwks_uri"], withhold_token=True)).json()["keys"]
        kid = pyjwt.get_unverified_header(token["id_token"])["kid"]
        key = next(pyjwt.PyJWK(k) for k in keys if k["kid"] == kid)
        claims = pyjwt.decode(token["id_token"], key.key, algorithms=doc["id_token_signing_alg_values_supported"],
                              audience="demo-public", issuer=doc["issuer"])
        assert claims["nonce"] == "abc" and claims["name"] == "Alice Example"

        refreshed = await c.refresh_token(f"{BASE}/token", refresh_token=token["refresh_token"])
        assert refreshed["refresh_count"] == 1

    async with oauth_client(app, client_id="demo-client", client_secret="demo-secret") as admin:
        active = await admin.introspect_token(f"{BASE}/introspect", token=refreshed["access_token"])
        assert active.json()["active"] is True
        revoked = await admin.revoke_token(f"{BASE}/revoke", token=refreshed["access_token"])
        assert revoked.status_code == 200
        # demo-client did not get this token, so the revocation is a no-op (RFC 7009 §2.1)
        assert (await admin.introspect_token(f"{BASE}/introspect", token=refreshed["access_token"])
                ).json()["active"] is True

    async with oauth_client(app, client_id="demo-public", token_endpoint_auth_method="none") as owner:
        await owner.revoke_token(f"{BASE}/revoke", token=refreshed["refresh_token"])
    async with oauth_client(app, client_id="demo-client", client_secret="demo-secret") as admin:
        after = await admin.introspect_token(f"{BASE}/introspect", token=refreshed["access_token"])
        assert after.json() == {"active": False}
