"""docs/op-dialects.md stays true: its request-object script runs and works, and its fixtures load."""

from __future__ import annotations

import subprocess
import sys
from urllib.parse import urlsplit

import pytest

from mock_op_auth.config.loader import load_fixtures
from tests.op_helpers import (
    BASE,
    FIXTURES,
    ROOT,
    app_for,
    create_intent,
    fragment_of,
    half_hash,
    http,
    verify_id_token,
)

SCRIPT = ROOT / "examples" / "psd2_request_object.py"


def test_the_doc_shows_the_script_as_it_is() -> None:
    assert SCRIPT.read_text() in (ROOT / "docs" / "op-dialects.md").read_text()


async def test_the_documented_script_signs_a_request_object_the_mock_accepts() -> None:
    async with http(app_for("op-psd2")) as client:
        intent = (await create_intent(client))["authorizationId"]
        now = (await client.get("/_mock/clock")).json()["now"]
        result = subprocess.run([sys.executable, str(SCRIPT), intent, BASE, str(now)], capture_output=True,
                                text=True, timeout=30, check=True)
        url = urlsplit(result.stdout.strip())
        assert f"{url.scheme}://{url.netloc}" == BASE and url.path == "/oauth/authorize"
        response = await client.get(f"{url.path}?{url.query}")
        assert response.status_code == 302, response.text
        callback = fragment_of(response.headers["location"])
        claims = await verify_id_token(client, callback["id_token"])
        assert claims["authorizationId"] == intent
        assert claims["c_hash"] == half_hash(callback["code"])


@pytest.mark.parametrize("name, dialects", [("op-general", {"apigee"}), ("op-corporate", {"rfc"})])
def test_op_fixtures_load(name: str, dialects: set[str]) -> None:
    config = load_fixtures(FIXTURES / f"{name}.yaml")
    assert config.clients and config.resources
    assert {r.dialect for r in config.resources} == dialects


def test_the_psd2_fixture_gives_every_psu_accounts_and_no_stub_routes() -> None:
    """Its AIS, PIS and CoF answer from server.psd2.accounts; a resource route would be shadowed."""
    config = load_fixtures(FIXTURES / "op-psd2.yaml")
    assert config.clients and not config.resources
    assert {a.user for a in config.server.psd2.accounts} == set(config.users)
