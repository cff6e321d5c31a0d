"""The request journal masks secrets when it records them, over HTTP as a test reads it back."""

from __future__ import annotations

import base64

import httpx

from mock_op_auth.state.journal import MASK, Journal, mask_headers, mask_params

SECRET = "demo-secret"


async def test_a_token_request_is_journaled_without_its_secrets(client: httpx.AsyncClient) -> None:
    await client.post("/token", data={"grant_type": "client_credentials", "client_id": "demo-client",
                                      "client_secret": SECRET, "scope": "accounts"},
                      headers={"x-api-key": "key-value", "cookie": "c=1"})
    entry = (await client.get("/_mock/requests", params={"endpoint": "token"})).json()["requests"][-1]
    assert entry["params"]["client_secret"] == MASK
    assert entry["params"]["client_id"] == "demo-client"
    assert entry["headers"]["x-api-key"] == MASK and entry["headers"]["cookie"] == MASK
    assert SECRET not in str(entry)


async def test_basic_credentials_keep_only_their_scheme(client: httpx.AsyncClient) -> None:
    await client.post("/token", data={"grant_type": "client_credentials"}, auth=("demo-client", SECRET))
    entry = (await client.get("/_mock/requests")).json()["requests"][-1]
    assert entry["headers"]["authorization"] == f"Basic {MASK}"


async def test_an_authorization_header_without_a_scheme_is_masked_whole(client: httpx.AsyncClient) -> None:
    """A misbehaving client's header (a tab after Basic, a bare credential) is all secret."""
    basic = base64.b64encode(f"demo-client:{SECRET}".encode()).decode()
    for header in (f"Basic\t{basic}", basic, "s3cret-admin-token"):
        await client.post("/token", data={"grant_type": "client_credentials"}, headers={"Authorization": header})
        entry = (await client.get("/_mock/requests")).json()["requests"][-1]
        assert entry["headers"]["authorization"] == MASK, header
    page = (await client.get("/_mock/ui")).text
    assert basic not in page and "s3cret-admin-token" not in page


async def test_secrets_nested_in_a_control_call_are_masked(client: httpx.AsyncClient) -> None:
    """A namespace's fixtures carry client secrets and API keys; the plugin sends them so."""
    fixtures = {"clients": {"ns-client": {"secret": "NESTED-SECRET", "api_key": "NESTED-KEY",
                                          "grant_types": ["client_credentials"], "scopes": ["accounts"]}}}
    created = await client.post("/_mock/namespaces", json={"name": "masked", "fixtures": fixtures})
    assert created.status_code == 201, created.text
    entry = (await client.get("/_mock/requests", params={"endpoint": "control"})).json()["requests"][-1]
    client_entry = entry["params"]["fixtures"]["clients"]["ns-client"]
    assert client_entry["secret"] == MASK and client_entry["api_key"] == MASK
    assert client_entry["grant_types"] == ["client_credentials"]  # the rest is still there to read
    assert "NESTED" not in str(entry) and "NESTED" not in (await client.get("/_mock/ui")).text


def test_masking_keeps_repeated_parameters_and_plain_headers() -> None:
    assert mask_params([("code", "c1"), ("code", "c2"), ("state", "s")]) == {"code": [MASK, MASK], "state": "s"}
    assert mask_headers({"authorization": "Bearer abc", "accept": "x"}) == {"authorization": f"Bearer {MASK}",
                                                                            "accept": "x"}


def test_the_journal_is_bounded_and_numbers_entries() -> None:
    journal = Journal(3)
    for i in range(5):
        journal.record({"path": f"/{i}", "endpoint": "token", "client_id": None})
    entries = journal.entries()
    assert [e["path"] for e in entries] == ["/2", "/3", "/4"]
    assert [e["id"] for e in entries] == sorted(e["id"] for e in entries)
