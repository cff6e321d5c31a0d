"""The request journal masks secrets when it records them, over HTTP as a test reads it back."""

from __future__ import annotations

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
