"""A single-page app in a real browser (Chromium, driven by Playwright) with a well-known SPA library,
oidc-client-ts from npm, served from its own origin (another loopback port), so every call it makes
to the mock is cross-origin and needs CORS: it signs in (code flow with PKCE, public client, the
login page), renews silently (prompt=none in a hidden iframe, by the login session), and signs out
through /logout. ``tests/spa/package.json`` pins the library; ``.ci/run`` installs it with npm."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from mock_op_auth.config.loader import load_default
from mock_op_auth.config.schema import Client, Config
from mock_op_auth.testing import OpAuth, run_server
from tests.test_browser import browser  # noqa: F401 - the module's Chromium, shared

SPA_DIR = Path(__file__).resolve().parent / "spa"
BUNDLE = SPA_DIR / "node_modules" / "oidc-client-ts" / "dist" / "browser" / "oidc-client-ts.min.js"


def library() -> bytes:
    """oidc-client-ts's browser bundle; installed here with npm (as .ci/run does) when missing."""
    if not BUNDLE.exists():
        npm = shutil.which("npm")
        assert npm, "npm is missing: .ci/run installs nodejs and npm with apt"
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=SPA_DIR, check=True, timeout=300,
                       capture_output=True)
    return BUNDLE.read_bytes()


class SpaServer:
    """The SPA's own origin: its page (for /, /callback.html and /silent.html), app.js, the bundle
    and settings.js naming the mock as the authority."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str]] = {
            "/oidc-client-ts.min.js": (library(), "text/javascript"),
            "/app.js": ((SPA_DIR / "app.js").read_bytes(), "text/javascript"),
        }
        page = (SPA_DIR / "index.html").read_bytes(), "text/html; charset=utf-8"
        for path in ("/", "/callback.html", "/silent.html"):
            self.files[path] = page
        files = self.files

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body, kind = files.get(self.path.split("?")[0], (b"not found", "text/plain"))
                self.send_response(200 if kind != "text/plain" else 404)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def configure(self, authority: str) -> None:
        settings = f'window.SPA_SETTINGS = {{"authority": "{authority}", "client_id": "spa"}};'
        self.files["/settings.js"] = (settings.encode(), "text/javascript")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def spa_fixture(origin: str) -> Config:
    """The default fixture, the login page on, and a public SPA client living at ``origin``."""
    config = load_default()
    spa = Client(name="Browser SPA", grant_types=["authorization_code"], scopes=["openid", "profile", "email"],
                 redirect_uris=[f"{origin}/callback.html", f"{origin}/silent.html"],
                 post_logout_redirect_uris=[f"{origin}/"], require_pkce=True)
    return config.model_copy(update={"clients": {**config.clients, "spa": spa},
                                     "server": config.server.model_copy(update={"login": "page"})})


@pytest.fixture(scope="module")
def spa() -> Iterator[SpaServer]:
    server = SpaServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def mock(spa: SpaServer) -> Iterator[OpAuth]:
    with run_server(config=spa_fixture(spa.origin)) as server:
        spa.configure(server.url)
        yield server


@pytest.fixture
def page(browser: Browser, mock: OpAuth) -> Iterator[Page]:  # noqa: F811 - uses the shared browser
    mock.reset()
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def test_a_cross_origin_spa_signs_in_renews_silently_and_signs_out(page: Page, spa: SpaServer,
                                                                    mock: OpAuth) -> None:
    assert spa.origin != mock.url  # two origins: every call below is cross-origin
    page.goto(spa.origin + "/")
    expect(page.locator("#status")).to_have_text("signed out")

    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Browser SPA wants to access your account")
    page.get_by_role("button", name="Approve as Alice Example").click()
    page.wait_for_url(spa.origin + "/")
    expect(page.locator("#user")).to_have_text("Alice Example (alice)")  # userinfo, fetched cross-origin
    expect(page.locator("#keys")).to_have_text("1")  # the JWKS, fetched cross-origin
    expect(page.locator("#error")).to_have_text("")
    first = page.evaluate("window.spaToken")
    sid = page.evaluate("window.spaSid")
    assert [s["sid"] for s in mock.sessions()] == [sid]

    page.get_by_role("button", name="Renew silently").click()
    page.wait_for_function("token => window.spaToken && window.spaToken !== token", arg=first)
    expect(page.locator("#error")).to_have_text("")
    silent = [e for e in mock.requests(endpoint="authorize") if e["params"].get("prompt") == "none"]
    assert len(silent) == 1 and silent[0]["status"] == 302
    assert page.evaluate("window.spaSid") == sid  # the same login session answered

    origins = {e["endpoint"]: e["headers"].get("origin") for e in mock.requests()
               if e["endpoint"] in ("discovery", "token", "userinfo", "jwks")}
    assert origins == {"discovery": spa.origin, "token": spa.origin, "userinfo": spa.origin, "jwks": spa.origin}

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(lambda url: url.startswith(spa.origin + "/?state="))
    expect(page.locator("#status")).to_have_text("signed out")
    [logout] = mock.requests(endpoint="logout")
    assert logout["status"] == 302 and logout["client_id"] == "spa" and logout["params"]["id_token_hint"] == "***"
    assert mock.sessions() == []

    page.get_by_role("button", name="Renew silently").click()
    expect(page.locator("#status")).to_have_text("renew failed")
    expect(page.locator("#error")).to_contain_text("login_required")


def test_an_origin_the_fixture_does_not_name_is_blocked_by_the_browser(page: Page, spa: SpaServer,
                                                                         mock: OpAuth) -> None:
    page.goto(spa.origin + "/")
    refused = page.evaluate("""async (url) => {
        try { await fetch(url + "/_mock/clock"); return "allowed"; } catch (e) { return "blocked"; }
    }""", mock.url)
    assert refused == "blocked"  # the control API answers only server.cors_origins
    allowed = page.evaluate("async (url) => (await (await fetch(url + '/jwks')).json()).keys.length", mock.url)
    assert allowed == 1
    assert httpx.options(f"{mock.url}/token", headers={"Origin": "http://127.0.0.2:1",
                                                       "Access-Control-Request-Method": "POST"}).status_code == 403
