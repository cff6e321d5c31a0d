"""docs/op-dialects.md stays true: its request-object and JWS scripts run and work, and its fixtures load."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from mock_op_auth.config.loader import load_fixtures
from tests.op_helpers import (
    BASE,
    FIXTURES,
    PIS_JWKS,
    ROOT,
    app_for,
    create_intent,
    create_payment,
    fragment_of,
    half_hash,
    http,
    pis_headers,
    psd2_client_credentials,
    sepa_body,
    stringify,
    verify_id_token,
)

SCRIPT = ROOT / "examples" / "psd2_request_object.py"
JWS_SCRIPT = ROOT / "examples" / "psd2_jws.py"


@pytest.mark.parametrize("script", [SCRIPT, JWS_SCRIPT], ids=lambda p: p.name)
def test_the_doc_shows_the_script_as_it_is(script: Path) -> None:
    assert script.read_text() in (ROOT / "docs" / "op-dialects.md").read_text()


async def test_the_documented_jws_script_signs_a_payment_and_verifies_the_answer(tmp_path: Path) -> None:
    async with http(app_for("op-psd2")) as client:
        cc = await psd2_client_credentials(client, "payments")
        body = tmp_path / "payment.json"
        body.write_bytes(stringify(sepa_body()))
        signed = subprocess.run([sys.executable, str(JWS_SCRIPT), "sign", str(body)], capture_output=True, text=True,
                                timeout=30, check=True).stdout.strip()
        response = await client.post("/payments-psd2/v1/sepa-payments", content=body.read_bytes(),
                                     headers={**pis_headers(cc), "x-jws-signature": signed})
        assert response.status_code == 201, response.text
        (tmp_path / "answer.json").write_bytes(response.content)
        (tmp_path / "jwks.json").write_text((await client.get(PIS_JWKS)).text)
        args = [sys.executable, str(JWS_SCRIPT), "verify", str(tmp_path / "jwks.json")]
        verified = subprocess.run([*args, response.headers["x-jws-signature"], str(tmp_path / "answer.json")],
                                  capture_output=True, text=True, timeout=30)
        assert verified.returncode == 0 and "verifies" in verified.stdout
        (tmp_path / "answer.json").write_bytes(response.content.replace(b"12.50", b"99.50"))
        tampered = subprocess.run([*args, response.headers["x-jws-signature"], str(tmp_path / "answer.json")],
                                  capture_output=True, text=True, timeout=30)
        assert tampered.returncode != 0


async def test_the_request_object_script_takes_the_pis_and_cof_scopes() -> None:
    async with http(app_for("op-psd2")) as client:
        cc = await psd2_client_credentials(client, "payments")
        payment = (await create_payment(client, cc, sepa_body())).json()
        now = (await client.get("/_mock/clock")).json()["now"]
        result = subprocess.run([sys.executable, str(SCRIPT), payment["authorizationId"], BASE, str(now),
                                 "openid payments"], capture_output=True, text=True, timeout=30, check=True)
        url = urlsplit(result.stdout.strip())
        response = await client.get(f"{url.path}?{url.query}")
        assert response.status_code == 302 and "code" in fragment_of(response.headers["location"])


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
