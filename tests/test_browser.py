"""The login page and the dashboard in a real browser: headless Chromium (Debian's ``chromium``)
driven by Playwright, against a live server on 127.0.0.1. ``.ci/browsers.sh`` installs Chromium.

Set ``UPDATE_SCREENSHOTS=1`` to write docs/login.png and docs/dashboard.png from this run.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright

from mock_op_auth import create_app
from mock_op_auth.config.loader import load_fixtures

ROOT = Path(__file__).resolve().parent.parent
WEB_CLIENT = ("sandbox-web", "sandbox-web-secret")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str:
    found = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("chromium is missing: .ci/browsers.sh should have installed Debian's chromium package")
    pytest.skip("chromium is not installed and could not be: run `bash .ci/browsers.sh` (apt-get install chromium)")


@pytest.fixture(scope="module")
def live_url() -> Iterator[str]:
    """The compose example's fixture (login: page) served by uvicorn in a thread on a free loopback port."""
    yield from serve(create_app(load_fixtures(ROOT / "fixtures" / "sandbox.yaml")))


@pytest.fixture(scope="module")
def psd2_url() -> Iterator[str]:
    """OP's PSD2 fixture with the login page (``login: page``), served the same way."""
    config = load_fixtures(ROOT / "fixtures" / "op-psd2.yaml")
    yield from serve(create_app(config.model_copy(update={"server": config.server.model_copy(update={
        "login": "page"})})))


def serve(app: object) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):  # wait for the socket, not for time to pass
        if server.started:
            break
        time.sleep(0.025)
    assert server.started
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium_path()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, live_url: str) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    httpx.post(f"{live_url}/_mock/reset").raise_for_status()
    yield page
    context.close()


def screenshot(page: Page, name: str, tmp_path: Path) -> None:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(path, ROOT / "docs" / name)


def callback(live_url: str) -> str:
    """The client's redirect URI: the registered loopback ``http://127.0.0.1/callback`` on the live
    server's own port (any port matches, RFC 8252 §7.3), so the browser never leaves 127.0.0.1."""
    return f"{live_url}/callback"


def open_login(page: Page, live_url: str, **extra: str) -> None:
    params = {"client_id": WEB_CLIENT[0], "redirect_uri": callback(live_url), "response_type": "code",
              "scope": "openid profile email accounts", "state": "browser-state", **extra}
    page.goto(f"{live_url}/authorize?{urlencode(params)}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sandbox Web Shop wants to access your account")


def callback_params(page: Page, live_url: str) -> dict[str, str]:
    page.wait_for_url(lambda url: url.startswith(callback(live_url) + "?"))
    return {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}


def test_approve_on_the_login_page_completes_the_code_flow(page: Page, live_url: str, tmp_path: Path) -> None:
    open_login(page, live_url)
    expect(page.get_by_text("See your accounts, balances and transactions")).to_be_visible()
    screenshot(page, "login.png", tmp_path)
    page.get_by_role("button", name="Approve as Alice Example").click()
    params = callback_params(page, live_url)
    assert params["state"] == "browser-state" and params["iss"] == live_url
    token = httpx.post(f"{live_url}/token", data={"grant_type": "authorization_code", "code": params["code"],
                                                  "redirect_uri": callback(live_url)}, auth=WEB_CLIENT)
    assert token.status_code == 200, token.text
    userinfo = httpx.get(f"{live_url}/userinfo", headers={"Authorization": f"Bearer {token.json()['access_token']}"})
    assert userinfo.json()["sub"] == "alice"


def test_a_free_subject_typed_in_the_field_gets_the_code(page: Page, live_url: str) -> None:
    open_login(page, live_url)
    page.get_by_label("Another subject").fill("customer-4711")
    page.get_by_role("button", name="Approve", exact=True).click()
    code = callback_params(page, live_url)["code"]
    token = httpx.post(f"{live_url}/token", data={"grant_type": "authorization_code", "code": code,
                                                  "redirect_uri": callback(live_url)}, auth=WEB_CLIENT).json()
    userinfo = httpx.get(f"{live_url}/userinfo", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert userinfo.json()["sub"] == "customer-4711"


def test_deny_by_keyboard_alone_returns_access_denied(page: Page, live_url: str) -> None:
    open_login(page, live_url)
    order = []
    for _ in range(5):  # focus order: alice, bob, the subject field, Approve, Deny
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.getAttribute('name') + ':' + "
                                   "document.activeElement.textContent.trim().split('\\n')[0]"))
    assert order == ["user:Approve as Alice Example", "user:Approve as Bob Example", "subject:",
                     "null:Approve", "null:Deny"]
    page.keyboard.press("Enter")
    params = callback_params(page, live_url)
    assert params["error"] == "access_denied" and params["state"] == "browser-state"
    assert params["iss"] == live_url


def test_dashboard_revokes_a_live_token(page: Page, live_url: str, tmp_path: Path) -> None:
    for _ in range(2):
        page.context.clear_cookies()  # two separate logins: a login session would answer the second
        open_login(page, live_url)
        page.get_by_role("button", name="Approve as Bob Example").click()
        code = callback_params(page, live_url)["code"]
        httpx.post(f"{live_url}/token", data={"grant_type": "authorization_code", "code": code,
                                              "redirect_uri": callback(live_url)}, auth=WEB_CLIENT).raise_for_status()
    httpx.put(f"{live_url}/_mock/scenario", json={"name": "token-outage"}).raise_for_status()
    page.goto(f"{live_url}/_mock/ui")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    rows = page.get_by_role("button", name="Revoke")
    expect(rows).to_have_count(2)
    page.locator("details").first.locator("summary").click()  # the token request, its secrets masked
    screenshot(page, "dashboard.png", tmp_path)
    rows.first.click()
    expect(page.get_by_role("status")).to_have_text("Token revoked.")
    expect(page.get_by_role("button", name="Revoke")).to_have_count(1)
    assert len(httpx.get(f"{live_url}/_mock/tokens/live").json()["tokens"]) == 1
    page.get_by_label("None").check()
    page.get_by_role("button", name="Activate").click()
    expect(page.get_by_role("status")).to_have_text("Scenario changed.")
    assert httpx.get(f"{live_url}/_mock/scenarios").json()["active"] is None


def psd2_payment(psd2_url: str, amount: str, message: str) -> dict[str, str]:
    """A SEPA payment as OP's demo TPP creates it (client credentials, signed body), over real HTTP."""
    from tests.op_helpers import (
        TPP_API_KEY,
        TPP_ID,
        TPP_SECRET,
        detached_signature,
        forwarded_certificate,
        pis_headers,
        sepa_body,
        stringify,
    )

    cert = {"x-client-certificate": forwarded_certificate("CN=psd2-tpp,O=Sandbox TPP,C=FI")}
    token = httpx.post(f"{psd2_url}/oauth/token", headers={"x-api-key": TPP_API_KEY, **cert}, data={
        "grant_type": "client_credentials", "scope": "payments", "client_id": TPP_ID, "client_secret": TPP_SECRET})
    raw = stringify(sepa_body(amount, message=message))
    response = httpx.post(f"{psd2_url}/payments-psd2/v1/sepa-payments", content=raw, headers={
        **pis_headers(token.json()["access_token"]), **cert, "x-jws-signature": detached_signature(raw)})
    assert response.status_code == 201, response.text
    return {**response.json(), "cc": token.json()["access_token"], **cert}


def open_psd2_login(page: Page, psd2_url: str, authorization_id: str) -> None:
    from tests.op_helpers import TPP_ID, payment_request_object

    now = httpx.get(f"{psd2_url}/_mock/clock").json()["now"]
    params = {"request": payment_request_object(authorization_id, now=now), "response_type": "code id_token",
              "client_id": TPP_ID, "scope": "openid payments"}
    page.route("https://tpp.example/**", lambda route: route.fulfill(status=200, body="the TPP's callback"))
    page.goto(f"{psd2_url}/oauth/authorize?{urlencode(params)}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sandbox TPP wants to make a payment from your account")


def test_the_psu_sees_a_payment_on_the_login_page_and_rejects_or_approves_it(browser: Browser,
                                                                              psd2_url: str) -> None:
    from tests.op_helpers import pis_headers

    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    rejected = psd2_payment(psd2_url, "12.50", "Lasku 4711")
    open_psd2_login(page, psd2_url, rejected["authorizationId"])
    expect(page.get_by_text("Matti Meikäläinen (FI6059986920080595)")).to_be_visible()
    expect(page.get_by_text("12.50 EUR")).to_be_visible()
    expect(page.get_by_text("Lasku 4711")).to_be_visible()
    page.get_by_role("button", name="Deny").click()
    page.wait_for_url(lambda url: url.startswith("https://tpp.example/callback#"))
    assert parse_qs(urlsplit(page.url).fragment)["error"] == ["access_denied"]
    read = httpx.get(f"{psd2_url}/payments-psd2/v1/sepa-payments/{rejected['paymentId']}",
                     headers={**pis_headers(rejected["cc"]), "x-client-certificate": rejected["x-client-certificate"]})
    assert read.json()["status"] == "Rejected"
    approved = psd2_payment(psd2_url, "3.20", "Kahvit")
    open_psd2_login(page, psd2_url, approved["authorizationId"])
    page.get_by_role("button", name="Approve as Aino Sandbox").click()
    page.wait_for_url(lambda url: url.startswith("https://tpp.example/callback#"))
    fragment = parse_qs(urlsplit(page.url).fragment)
    assert fragment["code"] and fragment["id_token"]
    context.close()
