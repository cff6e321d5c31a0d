"""The dashboard at /_mock/ui: scenario, clock, live tokens and journal, through plain form posts."""

from __future__ import annotations

import base64

import httpx
import pytest

from mock_op_auth import create_app
from mock_op_auth.settings import Settings
from tests.helpers import CLIENT, client_credentials
from tests.html_forms import form_with, forms


async def dashboard(client: httpx.AsyncClient) -> str:
    response = await client.get("/_mock/ui")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    return response.text


async def test_dashboard_shows_scenarios_clock_tokens_and_journal(client: httpx.AsyncClient) -> None:
    html = await dashboard(client)
    for text in ("Scenario", "token-outage", "consent-pending", "Clock", "Live access tokens", "Request journal"):
        assert text in html
    assert "<script" not in html
    assert "+1 hour" in html


async def test_switching_the_scenario_activates_it(client: httpx.AsyncClient) -> None:
    html = await dashboard(client)
    body = form_with(html, "Activate").submit("Activate", name="token-outage")
    response = await client.post("/_mock/ui/scenario", data=body)
    assert response.status_code == 303 and response.headers["location"].startswith("/_mock/ui")
    assert (await client.get("/_mock/scenarios")).json()["active"] == "token-outage"
    assert "Active: <strong>token-outage</strong>" in await dashboard(client)
    none = form_with(html, "Activate").submit("Activate", name="")
    await client.post("/_mock/ui/scenario", data=none)
    assert (await client.get("/_mock/scenarios")).json()["active"] is None


async def test_an_unknown_scenario_is_refused(client: httpx.AsyncClient) -> None:
    html = await dashboard(client)
    response = await client.post("/_mock/ui/scenario", data=form_with(html, "Activate").submit("Activate",
                                                                                                name="nope"))
    assert response.status_code == 404
    assert (await client.get("/_mock/scenarios")).json()["active"] is None


async def test_clock_buttons_advance_the_mock_clock_and_back(client: httpx.AsyncClient) -> None:
    html = await dashboard(client)
    response = await client.post("/_mock/ui/clock", data=form_with(html, "+1 hour").submit("+1 hour"))
    assert response.status_code == 303
    assert (await client.get("/_mock/clock")).json()["offset"] == 3600
    html = await dashboard(client)
    assert "+01:00:00" in html
    await client.post("/_mock/ui/clock", data=form_with(html, "Back to real time").submit("Back to real time"))
    assert (await client.get("/_mock/clock")).json()["offset"] == 0


async def test_live_tokens_are_listed_without_the_token_and_revocable(client: httpx.AsyncClient) -> None:
    token = (await client_credentials(client))["access_token"]
    html = await dashboard(client)
    assert token not in html and "demo-client" in html
    response = await client.post("/_mock/ui/tokens/revoke", data=form_with(html, "Revoke").submit("Revoke"))
    assert response.status_code == 303
    introspection = await client.post("/introspect", data={"token": token}, auth=CLIENT)
    assert introspection.json() == {"active": False}
    assert "No live tokens" in await dashboard(client)


async def test_a_token_expired_by_the_clock_leaves_the_list(client: httpx.AsyncClient) -> None:
    await client_credentials(client)
    html = await dashboard(client)
    assert len([f for f in forms(html) if f.action == "/_mock/ui/tokens/revoke"]) == 1
    await client.post("/_mock/clock", json={"advance": 3601})
    assert "No live tokens" in await dashboard(client)


async def test_journal_is_newest_first_expandable_and_masked(client: httpx.AsyncClient) -> None:
    await client.post("/token", data={"grant_type": "client_credentials", "client_id": "demo-client",
                                      "client_secret": "demo-secret"})
    await client.get("/.well-known/openid-configuration")
    html = await dashboard(client)
    assert html.index("GET /.well-known/openid-configuration") < html.index("POST /token")
    assert "<details>" in html and "demo-secret" not in html and "&#34;client_secret&#34;: &#34;***&#34;" in html


async def test_clearing_the_journal_empties_it(client: httpx.AsyncClient) -> None:
    await client.get("/jwks")
    html = await dashboard(client)
    response = await client.post("/_mock/ui/journal/clear", data=form_with(html, "Clear").submit("Clear"))
    assert response.status_code == 303
    assert (await client.get("/_mock/requests")).json()["requests"] == []


async def test_a_post_without_the_csrf_cookie_changes_nothing(client: httpx.AsyncClient) -> None:
    html = await dashboard(client)
    body = form_with(html, "+1 hour").submit("+1 hour")
    client.cookies.clear()
    response = await client.post("/_mock/ui/clock", data=body)
    assert response.status_code == 400 and "CSRF" in response.text
    assert (await client.get("/_mock/clock")).json()["offset"] == 0


async def test_a_post_with_a_wrong_csrf_token_changes_nothing(client: httpx.AsyncClient) -> None:
    html = await dashboard(client)
    body = form_with(html, "+1 hour").submit("+1 hour", csrf_token="forged-" * 6)
    assert (await client.post("/_mock/ui/clock", data=body)).status_code == 400
    assert (await client.get("/_mock/clock")).json()["offset"] == 0


async def test_with_an_admin_token_the_dashboard_asks_for_it() -> None:
    app = create_app(settings=Settings(admin_token="s3cret"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test") as client:
        refused = await client.get("/_mock/ui")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith('Basic realm="mock-op-auth dashboard"')
        assert (await client.get("/_mock/ui", auth=("anyone", "wrong"))).status_code == 401
        html = (await client.get("/_mock/ui", auth=("anyone", "s3cret"))).text
        assert "Dashboard" in html
        body = form_with(html, "+1 hour").submit("+1 hour")
        assert (await client.post("/_mock/ui/clock", data=body)).status_code == 401
        assert (await client.post("/_mock/ui/clock", data=body, auth=("", "s3cret"))).status_code == 303
        bearer = {"Authorization": "Bearer s3cret"}
        assert (await client.get("/_mock/clock", headers=bearer)).json()["offset"] == 3600
        assert (await client.get("/_mock/ui", headers=bearer)).status_code == 200
        basic = base64.b64encode(b"x:s3cret").decode()
        assert (await client.get("/_mock/ui", headers={"Authorization": f"Basic {basic}"})).status_code == 200


async def test_the_dashboard_shows_psd2_payments_with_their_status_now() -> None:
    from tests.op_helpers import app_for, http, pis_authorized, pis_headers, sepa_body

    async with http(app_for("op-psd2")) as psd2:
        tokens = await pis_authorized(psd2, sepa_body("12.50"), sepa_body("3.00", count=2))
        first = tokens["payments"][0]["paymentId"]
        await psd2.put(f"/payments-psd2/v1/sepa-payments/{first}/submissions/s1",
                       headers=pis_headers(tokens["access_token"]))
        html = await dashboard(psd2)
    assert "PSD2 payments" in html and "Matti Meikäläinen" in html
    assert "12.50 EUR" in html and "3.00 EUR \u00d7 2" in html
    assert "<td>Debited</td>" in html and "<td>Authorized</td>" in html and "FI8659986920068681" in html


async def test_the_dashboard_has_no_payments_section_without_payments(client: httpx.AsyncClient) -> None:
    assert "PSD2 payments" not in await dashboard(client)


@pytest.mark.parametrize("advance", ["nan", "inf", "-inf", "1e300", "-1e12", "soon"])
async def test_a_clock_step_the_control_api_would_refuse_changes_nothing(client: httpx.AsyncClient,
                                                                          advance: str) -> None:
    html = await dashboard(client)
    body = {**form_with(html, "+1 hour").fields, "advance": advance}  # as a hand-made post would send it
    response = await client.post("/_mock/ui/clock", data=body)
    assert response.status_code == 400 and "advance" in response.text
    assert (await client.get("/_mock/clock")).json()["offset"] == 0
    assert (await client.get("/_mock/ui")).status_code == 200
