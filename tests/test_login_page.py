"""The login and consent page (login: page, prompt=login) and its CSRF-protected form posts."""

from __future__ import annotations

import re

import httpx
import pytest

from mock_op_auth import create_app
from mock_op_auth.config.loader import load_default
from mock_op_auth.config.schema import Config
from mock_op_auth.http.pages import Pages
from mock_op_auth.server import Server
from tests.helpers import CLIENT, REDIRECT, authorize, query_of
from tests.html_forms import form_with, forms


def page_config() -> Config:
    config = load_default()
    return config.model_copy(update={"server": config.server.model_copy(update={"login": "page"})})


@pytest.fixture
def app():
    return create_app(page_config())


async def login_page(client: httpx.AsyncClient, **params: str) -> str:
    response = await authorize(client, **params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    return response.text


async def post(client: httpx.AsyncClient, action: str, data: dict[str, str]) -> httpx.Response:
    return await client.post(action, data=data)


async def redeem(client: httpx.AsyncClient, location: str) -> dict[str, object]:
    code = query_of(location)["code"]
    response = await client.post("/token", data={"grant_type": "authorization_code", "code": code,
                                                 "redirect_uri": REDIRECT}, auth=CLIENT)
    assert response.status_code == 200, response.text
    return response.json()


async def userinfo_sub(client: httpx.AsyncClient, token: str) -> str:
    response = await client.get("/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return response.json()["sub"]


async def test_page_shows_client_name_scopes_in_words_and_users(client: httpx.AsyncClient) -> None:
    html = await login_page(client)
    assert "Demo Client</span> wants to access your account" in html
    assert "See your accounts, balances and transactions" in html
    assert "See your email address" in html
    assert "Approve as Alice Example" in html and "Approve as Bob Example" in html
    assert re.search(r'<label for="subject">', html) and 'id="subject"' in html
    assert "<main" in html and 'lang="en"' in html


async def test_page_needs_no_script_and_no_external_asset(client: httpx.AsyncClient) -> None:
    response = await authorize(client)
    assert "<script" not in response.text
    assert not re.search(r'(src|href)="https?://', response.text)
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"


async def test_every_form_posts_with_a_csrf_token(client: httpx.AsyncClient) -> None:
    html = await login_page(client)
    found = forms(html)
    assert len(found) == 4  # alice, bob, another subject, deny
    assert all(f.method == "post" and f.action == "/authorize/decision" for f in found)
    assert all(len(f.fields["csrf_token"]) >= 32 for f in found)


async def test_approve_as_a_fixture_user_redirects_with_code_state_and_iss(client: httpx.AsyncClient) -> None:
    html = await login_page(client)
    response = await post(client, "/authorize/decision", form_with(html, "Bob Example").submit("Bob Example"))
    assert response.status_code == 302
    params = query_of(response.headers["location"])
    assert response.headers["location"].startswith(REDIRECT + "?")
    assert params["state"] == "st4te" and params["iss"] == "http://mock.test"
    tokens = await redeem(client, response.headers["location"])
    assert await userinfo_sub(client, str(tokens["access_token"])) == "bob"


async def test_approve_as_a_free_subject_issues_tokens_for_it(client: httpx.AsyncClient) -> None:
    html = await login_page(client)
    body = form_with(html, "Approve").submit("Approve", subject="customer-4711")
    response = await post(client, "/authorize/decision", body)
    assert response.status_code == 302
    tokens = await redeem(client, response.headers["location"])
    assert await userinfo_sub(client, str(tokens["access_token"])) == "customer-4711"


async def test_approve_without_a_subject_is_an_error_page(client: httpx.AsyncClient) -> None:
    html = await login_page(client)
    response = await post(client, "/authorize/decision", form_with(html, "Approve").submit("Approve", subject=" "))
    assert response.status_code == 400 and "choose a user or give a subject" in response.text


async def test_deny_redirects_with_access_denied_state_and_iss(client: httpx.AsyncClient) -> None:
    html = await login_page(client)
    response = await post(client, "/authorize/decision", form_with(html, "Deny").submit("Deny"))
    assert response.status_code == 302
    assert query_of(response.headers["location"]) == {
        "error": "access_denied", "error_description": "the user denied the request", "state": "st4te",
        "iss": "http://mock.test"}


async def test_a_wrong_csrf_token_is_a_400_page_and_uses_nothing_up(client: httpx.AsyncClient) -> None:
    html = await login_page(client)
    form = form_with(html, "Alice Example")
    response = await post(client, "/authorize/decision", form.submit("Alice Example", csrf_token="x" * 43))
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert "CSRF token does not match" in response.text
    retry = await post(client, "/authorize/decision", form.submit("Alice Example"))
    assert retry.status_code == 302 and "code" in query_of(retry.headers["location"])


async def test_a_form_another_site_posts_is_refused_and_uses_nothing_up(client: httpx.AsyncClient) -> None:
    """Login CSRF: another site posting a form it scraped would sign the browser in as its pick."""
    html = await login_page(client)
    data = form_with(html, "Alice Example").submit("Alice Example")
    refused = await client.post("/authorize/decision", data=data, headers={"Sec-Fetch-Site": "cross-site"})
    assert refused.status_code == 400 and "not from another site" in refused.text
    assert "set-cookie" not in refused.headers
    own = await client.post("/authorize/decision", data=data, headers={"Sec-Fetch-Site": "same-origin"})
    assert own.status_code == 302 and "code" in query_of(own.headers["location"])


async def test_a_missing_csrf_token_is_refused(client: httpx.AsyncClient) -> None:
    html = await login_page(client)
    data = form_with(html, "Alice Example").submit("Alice Example")
    del data["csrf_token"]
    assert (await post(client, "/authorize/decision", data)).status_code == 400


async def test_a_replayed_form_is_refused(client: httpx.AsyncClient) -> None:
    html = await login_page(client)
    data = form_with(html, "Alice Example").submit("Alice Example")
    assert (await post(client, "/authorize/decision", data)).status_code == 302
    replay = await post(client, "/authorize/decision", data)
    assert replay.status_code == 400 and "already answered" in replay.text
    deny_after = await post(client, "/authorize/decision", form_with(html, "Deny").submit("Deny"))
    assert deny_after.status_code == 400


async def test_a_page_left_open_expires_by_the_mock_clock(client: httpx.AsyncClient) -> None:
    html = await login_page(client)
    assert (await client.post("/_mock/clock", json={"advance": 601})).status_code == 200
    response = await post(client, "/authorize/decision", form_with(html, "Alice Example").submit("Alice Example"))
    assert response.status_code == 400 and "expired" in response.text


async def test_reset_forgets_open_login_pages(client: httpx.AsyncClient) -> None:
    html = await login_page(client)
    assert (await client.post("/_mock/reset")).status_code == 200
    response = await post(client, "/authorize/decision", form_with(html, "Alice Example").submit("Alice Example"))
    assert response.status_code == 400


async def test_prompt_none_with_the_login_page_is_login_required(client: httpx.AsyncClient) -> None:
    response = await authorize(client, prompt="none")
    assert response.status_code == 302
    params = query_of(response.headers["location"])
    assert params["error"] == "login_required" and params["state"] == "st4te" and params["iss"] == "http://mock.test"


async def test_login_hint_puts_that_user_first(client: httpx.AsyncClient) -> None:
    html = await login_page(client, login_hint="bob")
    assert html.index("Approve as Bob Example") < html.index("Approve as Alice Example")


async def test_a_free_login_hint_fills_the_subject_field(client: httpx.AsyncClient) -> None:
    html = await login_page(client, login_hint="customer-9")
    assert 'value="customer-9"' in html


async def test_page_content_is_escaped(client: httpx.AsyncClient) -> None:
    html = await login_page(client, login_hint='<b onmouseover="x">')
    assert '<b onmouseover' not in html and "&lt;b onmouseover=" in html


async def test_a_scenario_rule_on_the_chosen_user_acts_on_the_form_post(client: httpx.AsyncClient) -> None:
    rule = {"match": {"endpoint": "authorize", "user": "bob"},
            "error": {"error": "access_denied", "error_description": "bob is locked out"}}
    assert (await client.post("/_mock/rules", json=rule)).status_code == 201
    html = await login_page(client)
    response = await post(client, "/authorize/decision", form_with(html, "Bob Example").submit("Bob Example"))
    params = query_of(response.headers["location"])
    assert params["error"] == "access_denied" and params["error_description"] == "bob is locked out"
    alice = await post(client, "/authorize/decision", form_with(html, "Alice Example").submit("Alice Example"))
    assert "code" in query_of(alice.headers["location"])


async def test_the_clients_scenario_acts_on_the_form_post_too() -> None:
    """The form post names no client; the one behind the login request is known once it is checked."""
    config = page_config().model_dump(by_alias=True)
    config["scenarios"]["bob-locked"] = {"server": {"code_ttl": 5}, "rules": [
        {"match": {"endpoint": "authorize", "user": "bob"},
         "error": {"error": "access_denied", "error_description": "bob is locked out"}}]}
    config["clients"]["demo-client"]["scenario"] = "bob-locked"
    app = create_app(Config.model_validate(config))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test") as client:
        html = await login_page(client)
        response = await post(client, "/authorize/decision", form_with(html, "Bob Example").submit("Bob Example"))
        assert query_of(response.headers["location"])["error"] == "access_denied"
        entry = (await client.get("/_mock/requests", params={"endpoint": "authorize"})).json()["requests"][-1]
        assert (entry["scenario"], entry["rule"]) == ("bob-locked", "bob-locked:0")
        html = await login_page(client)
        alice = await post(client, "/authorize/decision", form_with(html, "Alice Example").submit("Alice Example"))
        await client.post("/_mock/clock", json={"advance": 6})  # the scenario's code_ttl applies to the code
        code = query_of(alice.headers["location"])["code"]
        late = await client.post("/token", data={"grant_type": "authorization_code", "code": code,
                                                 "redirect_uri": REDIRECT}, auth=CLIENT)
        assert late.json() == {"error": "invalid_grant", "error_description": "the code has expired"}


async def test_the_journal_records_the_answer_with_the_csrf_token_masked(client: httpx.AsyncClient) -> None:
    html = await login_page(client)
    await post(client, "/authorize/decision", form_with(html, "Alice Example").submit("Alice Example"))
    entries = (await client.get("/_mock/requests", params={"endpoint": "authorize"})).json()["requests"]
    assert [e["path"] for e in entries] == ["/authorize", "/authorize/decision"]
    assert entries[1]["params"]["csrf_token"] == "***" and entries[1]["params"]["user"] == "alice"
    assert entries[1]["client_id"] == "demo-client" and entries[1]["status"] == 302


async def test_prompt_login_shows_the_page_even_with_auto_login() -> None:
    app = create_app(load_default())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test") as client:
        assert (await authorize(client)).status_code == 302
        html = await login_page(client, prompt="login")
        assert "Approve as Alice Example" in html


async def test_prompt_none_with_auto_login_needs_a_session_first() -> None:
    # DESIGN §9: prompt=none answers from a login session; without one it is login_required.
    app = create_app(load_default())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test") as client:
        response = await authorize(client, prompt="none")
        assert query_of(response.headers["location"])["error"] == "login_required"
        assert (await authorize(client)).status_code == 302  # the auto login starts a session
        response = await authorize(client, prompt="none")
        assert "code" in query_of(response.headers["location"])


async def test_details_of_a_pending_request_are_shown_as_what_is_authorized(client: httpx.AsyncClient,
                                                                            server: Server) -> None:
    # The hook a PSD2 flow uses: details kept with the pending request appear on the page.
    html = await login_page(client)
    pending = server.authorizer.pending(forms(html)[0].fields["request_id"], forms(html)[0].fields["csrf_token"])
    shown = server.authorizer.begin(pending.request, details={"Intent": "AIS-4711", "Access": "balances"})
    page = Pages().login(shown, server.config, "/authorize/decision").body.decode()
    assert "What you are authorizing" in page
    assert "<dt>Intent</dt><dd>AIS-4711</dd>" in page and "<dt>Access</dt><dd>balances</dd>" in page
    assert "What you are authorizing" not in html
