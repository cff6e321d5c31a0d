"""The /device page in a real browser (headless Chromium driven by Playwright): the user types the
code a TV shows, approves or denies on the consent page, and the TV's polls see the answer.

Set ``UPDATE_SCREENSHOTS=1`` to write docs/device.png from this run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from mock_op_auth.testing import OpAuth, run_server
from tests.test_browser import browser, screenshot  # noqa: F401 - the module's Chromium, as in test_spa

GRANTS = Path(__file__).resolve().parent.parent / "fixtures" / "grants.yaml"
DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"


@pytest.fixture(scope="module")
def live() -> Iterator[OpAuth]:
    with run_server(GRANTS) as server:
        yield server


@pytest.fixture
def page(browser: Browser, live: OpAuth) -> Iterator[Page]:  # noqa: F811 - uses the shared browser
    live.reset()
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def start(live: OpAuth) -> dict[str, Any]:
    response = httpx.post(f"{live.url}/device_authorization", data={"client_id": "tv-app", "scope": "openid accounts"})
    assert response.status_code == 200, response.text
    return response.json()


def poll(live: OpAuth, device_code: str) -> httpx.Response:
    live.advance(5)  # the TV waits its interval
    return httpx.post(f"{live.url}/token", data={"grant_type": DEVICE_CODE, "device_code": device_code,
                                                 "client_id": "tv-app"})


def test_typing_the_code_and_approving_lets_the_tv_poll_a_token(page: Page, live: OpAuth, tmp_path: Path) -> None:
    started = start(live)
    assert poll(live, started["device_code"]).json()["error"] == "authorization_pending"
    page.goto(started["verification_uri"])
    expect(page.get_by_role("heading", level=1)).to_have_text("Connect a device")
    page.get_by_label("Code from your device").fill(started["user_code"].replace("-", " ").lower())
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Living Room TV wants to access your account")
    expect(page.get_by_text(started["user_code"], exact=True)).to_be_visible()
    screenshot(page, "device.png", tmp_path)
    page.get_by_role("button", name="Approve as Bob Example").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Device connected")
    token = poll(live, started["device_code"])
    assert token.status_code == 200, token.text
    userinfo = httpx.get(f"{live.url}/userinfo", headers={"Authorization": f"Bearer {token.json()['access_token']}"})
    assert userinfo.json()["sub"] == "bob"


def test_the_complete_uri_opens_the_consent_page_and_deny_by_keyboard_denies(page: Page, live: OpAuth) -> None:
    started = start(live)
    page.goto(started["verification_uri_complete"])
    expect(page.get_by_role("heading", level=1)).to_have_text("Living Room TV wants to access your account")
    page.get_by_role("button", name="Deny").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Request denied")
    assert poll(live, started["device_code"]).json()["error"] == "access_denied"


def test_a_wrong_code_shows_why_and_the_box_again(page: Page, live: OpAuth) -> None:
    page.goto(f"{live.url}/device")
    page.get_by_label("Code from your device").fill("ZZZZ-ZZZZ")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("no such code")
    expect(page.get_by_label("Code from your device")).to_have_value("ZZZZ-ZZZZ")
    started = start(live)
    live.approve_device(started["user_code"])
    page.get_by_label("Code from your device").fill(started["user_code"])
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("alert")).to_contain_text("already approved")
