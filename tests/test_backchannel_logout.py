"""Back-channel logout (OpenID Back-Channel Logout 1.0, DESIGN §9) against a live server and a real
receiver on 127.0.0.1: the logout token verifies with PyJWT through the JWKS found by discovery,
a slow receiver never holds the logout page past the bound, and the journal records each call.
A server-side RP library (pyoidc, ``oic``) signs in and out through ``end_session_endpoint``."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode

import httpx
import jwt as pyjwt
import pytest

from mock_op_auth.config.loader import load_default
from mock_op_auth.config.schema import Config
from mock_op_auth.testing import OpAuth, run_server

LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
SECRET = "rp-secret-of-at-least-thirty-two-bytes"


class Receiver:
    """A back-channel logout endpoint: records each POSTed form; waits ``delay`` seconds first."""

    def __init__(self, delay: float = 0.0) -> None:
        self.received: list[dict[str, str]] = []
        self.delay = delay
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0"))).decode()
                receiver.received.append({k: v[0] for k, v in parse_qs(body).items()})
                time.sleep(receiver.delay)  # a slow receiver, on its own thread
                self.send_response(200)
                self.send_header("Cache-Control", "no-store")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/backchannel"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def rp_config(backchannel: str | None, **server: object) -> Config:
    """The default fixture with a confidential RP that registers logout URIs."""
    config = load_default()
    rp = config.clients["demo-client"].model_copy(update={
        "secret": SECRET, "redirect_uris": ["http://127.0.0.1/rp/callback"],
        "post_logout_redirect_uris": ["http://127.0.0.1:9/rp/signed-out"], "backchannel_logout_uri": backchannel})
    return config.model_copy(update={"clients": {**config.clients, "rp": rp},
                                     "server": config.server.model_copy(update=server)})


def sign_in(mock: OpAuth, browser: httpx.Client, **extra: str) -> dict:
    params = {"client_id": "rp", "redirect_uri": "http://127.0.0.1/rp/callback", "response_type": "code",
              "scope": "openid profile", "state": "s1", "nonce": "n1", **extra}
    redirect = browser.get(f"{mock.url}/authorize?{urlencode(params)}")
    code = parse_qs(redirect.headers["location"].split("?", 1)[1])["code"][0]
    token = httpx.post(f"{mock.url}/token", data={"grant_type": "authorization_code", "code": code,
                                                   "redirect_uri": params["redirect_uri"]}, auth=("rp", SECRET))
    assert token.status_code == 200, token.text
    return token.json()


def test_a_logout_token_reaches_the_receiver_and_verifies_with_pyjwt(receiver: Receiver) -> None:
    with run_server(config=rp_config(receiver.url)) as mock, httpx.Client() as browser:
        tokens = sign_in(mock, browser)
        sid = pyjwt.decode(tokens["id_token"], options={"verify_signature": False})["sid"]
        out = browser.get(mock.logout_url, params={"id_token_hint": tokens["id_token"]})
        assert out.status_code == 200 and "told over the back channel" in out.text
        assert len(receiver.received) == 1
        logout_token = receiver.received[0]["logout_token"]

        discovery = httpx.get(mock.discovery_url).json()
        assert discovery["backchannel_logout_supported"] is True
        header = pyjwt.get_unverified_header(logout_token)
        assert header["typ"] == "logout+jwt"
        key = pyjwt.PyJWKClient(discovery["jwks_uri"]).get_signing_key_from_jwt(logout_token)
        claims = pyjwt.decode(logout_token, key.key, algorithms=discovery["id_token_signing_alg_values_supported"],
                              audience="rp", issuer=discovery["issuer"], options={"require": ["iat", "exp", "jti"]})
        assert claims["sid"] == sid and claims["sub"] == "alice"
        assert claims["events"] == {LOGOUT_EVENT: {}}
        assert "nonce" not in claims and 0 < claims["exp"] - claims["iat"] <= 120

        outgoing = [e for e in mock.requests(endpoint="logout") if e.get("direction") == "outgoing"]
        assert len(outgoing) == 1
        assert outgoing[0]["path"] == receiver.url and outgoing[0]["status"] == 200
        assert outgoing[0]["client_id"] == "rp" and outgoing[0]["params"]["logout_token"] == "***"
        assert mock.sessions() == []


def test_a_slow_receiver_never_holds_the_logout_page_past_the_bound() -> None:
    slow = Receiver(delay=3.0)
    try:
        with run_server(config=rp_config(slow.url, backchannel_logout_timeout=0.5)) as mock, \
                httpx.Client() as browser:
            tokens = sign_in(mock, browser)
            started = time.monotonic()
            out = browser.get(mock.logout_url, params={"id_token_hint": tokens["id_token"]})
            assert out.status_code == 200
            assert time.monotonic() - started < 2.5
            outgoing = [e for e in mock.requests(endpoint="logout") if e.get("direction") == "outgoing"]
            assert outgoing[0]["status"] is None and "no answer within 0.5 s" in outgoing[0]["answer"]
    finally:
        slow.close()


def test_an_unreachable_receiver_is_journaled_and_the_logout_still_ends_the_session() -> None:
    with run_server(config=rp_config("http://127.0.0.1:9/nobody-listens")) as mock, httpx.Client() as browser:
        tokens = sign_in(mock, browser)
        out = browser.get(mock.logout_url, params={"id_token_hint": tokens["id_token"]})
        assert out.status_code == 200 and mock.sessions() == []
        outgoing = [e for e in mock.requests(endpoint="logout") if e.get("direction") == "outgoing"]
        assert outgoing[0]["status"] is None and "ConnectError" in outgoing[0]["answer"]


def test_ending_a_session_by_the_control_api_logs_out_over_the_back_channel(receiver: Receiver) -> None:
    with run_server(config=rp_config(receiver.url, revoke_on_logout=True)) as mock, httpx.Client() as browser:
        tokens = sign_in(mock, browser)
        [session] = mock.sessions()
        assert session["clients"] == ["rp"] and session["user"] == "alice"
        mock.end_session(session["sid"])
        claims = pyjwt.decode(receiver.received[0]["logout_token"], options={"verify_signature": False})
        assert claims["sid"] == session["sid"] and claims["iss"] == mock.issuer
        introspected = httpx.post(f"{mock.url}/introspect", data={"token": tokens["access_token"]},
                                  auth=("rp", SECRET)).json()
        assert introspected == {"active": False}  # server.revoke_on_logout
        with pytest.raises(Exception, match="404"):
            mock.end_session(session["sid"])
        sign_in(mock, browser, login_hint="bob")
        for odd in (".", "a/b", ".."):  # an id, not a path: "." once reached DELETE /_mock/sessions (all)
            with pytest.raises(Exception, match="404"):
                mock.end_session(odd)
        assert len(mock.sessions()) == 1
        mock.end_session()
        assert mock.sessions() == [] and len(receiver.received) == 2


def test_a_server_side_rp_library_signs_out_through_the_end_session_endpoint() -> None:
    from oic.oic import Client
    from oic.oic.message import AuthorizationResponse, RegistrationResponse
    from oic.utils.authn.client import CLIENT_AUTHN_METHOD

    with run_server(config=rp_config(None)) as mock, httpx.Client() as browser:
        rp = Client(client_authn_method=CLIENT_AUTHN_METHOD)
        rp.provider_config(mock.issuer)
        assert rp.provider_info["end_session_endpoint"] == mock.logout_url
        rp.store_registration_info(RegistrationResponse(
            client_id="rp", client_secret=SECRET, redirect_uris=["http://127.0.0.1/rp/callback"],
            post_logout_redirect_uris=["http://127.0.0.1:9/rp/signed-out"]))
        request = rp.construct_AuthorizationRequest(request_args={
            "response_type": "code", "scope": ["openid"], "state": "st-1", "nonce": "nn-1",
            "redirect_uri": "http://127.0.0.1/rp/callback"})
        callback = browser.get(request.request(rp.authorization_endpoint)).headers["location"]
        answer = rp.parse_response(AuthorizationResponse, info=callback.split("?", 1)[1], sformat="urlencoded")
        tokens = rp.do_access_token_request(state="st-1", request_args={"code": answer["code"]},
                                            authn_method="client_secret_basic")
        assert tokens["id_token"]["sub"] == "alice"  # pyoidc verified it through the JWKS
        assert len(mock.sessions()) == 1

        logout = rp.construct_EndSessionRequest(state="st-1", request_args={
            "post_logout_redirect_uri": "http://127.0.0.1:9/rp/signed-out", "state": "bye-1"})
        url = logout.request(rp.provider_info["end_session_endpoint"])
        assert "id_token_hint=" in url
        back = browser.get(url)
        assert back.status_code == 302
        assert back.headers["location"] == "http://127.0.0.1:9/rp/signed-out?state=bye-1"
        assert mock.sessions() == []
        silent = browser.get(request.request(rp.authorization_endpoint) + "&prompt=none")
        assert "error=login_required" in silent.headers["location"]
