"""Namespaces (DESIGN §11): a whole mock under /ns/{name}, isolated from every other, reached by
its path or the X-Mock-Namespace header; bounded, expiring when idle; and the pytest plugin
taking one per test from a running server (--op-auth-url), xdist workers included."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from tests.conftest import build_app
from tests.helpers import CLIENT, REDIRECT
from tests.live import free_port, start, stop

BANK = {"clients": {"bank": {"secret": "bank-secret", "grant_types": ["client_credentials"], "scopes": ["accounts"]}},
        "scenarios": {"down": {"rules": [{"match": {"endpoint": "token"}, "respond": {"status": 503}}]}}}


async def new(client: httpx.AsyncClient, **body: object) -> httpx.Response:
    return await client.post("/_mock/namespaces", json=body)


async def token(client: httpx.AsyncClient, prefix: str = "", auth: tuple[str, str] = CLIENT,
                **headers: str) -> httpx.Response:
    return await client.post(f"{prefix}/token", data={"grant_type": "client_credentials"}, auth=auth, headers=headers)


async def test_a_namespace_is_a_whole_mock_with_its_own_issuer(client: httpx.AsyncClient) -> None:
    created = await new(client, name="team-a")
    assert created.status_code == 201
    assert created.json() == {"name": "team-a", "url": "http://mock.test/ns/team-a",
                              "issuer": "http://mock.test/ns/team-a"}
    discovery = (await client.get("/ns/team-a/.well-known/openid-configuration")).json()
    assert discovery["issuer"] == "http://mock.test/ns/team-a"
    assert discovery["token_endpoint"] == "http://mock.test/ns/team-a/token"
    authorize = await client.get("/ns/team-a/authorize", params={
        "client_id": "demo-client", "redirect_uri": REDIRECT, "response_type": "code", "scope": "openid"})
    assert authorize.status_code == 302 and "iss=http%3A%2F%2Fmock.test%2Fns%2Fteam-a" in authorize.headers["location"]
    assert (await client.get("/ns/team-a/jwks")).json() != (await client.get("/jwks")).json()  # its own keys


async def test_nothing_done_in_one_namespace_is_seen_in_another(client: httpx.AsyncClient) -> None:
    await new(client, name="a")
    await new(client, name="b")
    issued = (await token(client, "/ns/a")).json()["access_token"]
    for prefix in ("/ns/b", ""):
        seen = await client.post(f"{prefix}/introspect", data={"token": issued}, auth=CLIENT)
        assert seen.json() == {"active": False}
    await client.post("/ns/a/_mock/clock", json={"advance": 500})
    await client.put("/ns/a/_mock/scenario", json={"name": "consent-pending"})
    await client.post("/ns/a/_mock/rules", json={"match": {"endpoint": "jwks"}, "respond": {"status": 500}})
    assert (await client.get("/ns/b/_mock/clock")).json()["offset"] == 0
    assert (await client.get("/ns/b/_mock/scenarios")).json()["active"] is None
    assert (await client.get("/ns/b/jwks")).status_code == 200
    assert (await client.get("/ns/a/jwks")).status_code == 500
    journal = (await client.get("/ns/b/_mock/requests")).json()["requests"]
    assert [e["path"] for e in journal] == ["/introspect", "/jwks"]
    await client.post("/ns/b/_mock/reset")  # a reset in b leaves a alone
    assert (await client.post("/ns/a/introspect", data={"token": issued}, auth=CLIENT)).json()["active"] is True


async def test_the_header_reaches_the_namespace_from_the_root_paths(client: httpx.AsyncClient) -> None:
    await new(client, name="hdr")
    issued = await token(client, **{"X-Mock-Namespace": "hdr"})
    seen = await client.post("/ns/hdr/introspect", data={"token": issued.json()["access_token"]}, auth=CLIENT)
    assert seen.json()["iss"] == "http://mock.test/ns/hdr"
    missing = await token(client, **{"X-Mock-Namespace": "nope"})
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


async def test_a_namespace_takes_its_own_fixtures(client: httpx.AsyncClient) -> None:
    assert (await new(client, name="bank", fixtures=BANK)).status_code == 201
    assert (await token(client, "/ns/bank", auth=("bank", "bank-secret"))).status_code == 200
    assert (await token(client, "/ns/bank")).status_code == 401  # the server's demo-client is not in it
    await client.put("/ns/bank/_mock/scenario", json={"name": "down"})
    assert (await token(client, "/ns/bank", auth=("bank", "bank-secret"))).status_code == 503
    bad = await new(client, name="broken", fixtures={"clients": {"x": {"grant_types": ["nonsense"]}}})
    assert bad.status_code == 400 and "grant_types" in bad.json()["error_description"]
    files = await new(client, name="files", fixtures={"clients": {"x": {"jwks_file": "/etc/passwd"}}})
    assert files.status_code == 400 and "inline" in files.json()["error_description"]


@pytest.mark.parametrize("name", ["a/b", "..", "x" * 200, "-lead", "", "sp ace", "é"])
async def test_a_bad_name_is_400(client: httpx.AsyncClient, name: str) -> None:
    response = await new(client, name=name)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_unknown_and_deleted_namespaces_are_404_in_the_control_shape(client: httpx.AsyncClient) -> None:
    for path in ("/ns/ghost/token", "/ns/ghost/_mock/requests", "/ns/a%2Fb/jwks"):
        response = await client.post(path) if path.endswith("token") else await client.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"] == "not_found"
    dots = await client.get("/jwks", headers={"X-Mock-Namespace": ".."})
    assert dots.status_code == 404 and dots.json()["error"] == "not_found"
    await new(client, name="gone")
    issued = (await token(client, "/ns/gone")).json()["access_token"]
    assert (await client.delete("/_mock/namespaces/gone")).status_code == 204
    assert (await client.delete("/_mock/namespaces/gone")).status_code == 404
    assert (await client.post("/ns/gone/introspect", data={"token": issued}, auth=CLIENT)).status_code == 404
    await new(client, name="gone")  # the name again: a new, empty mock
    assert (await client.post("/ns/gone/introspect", data={"token": issued}, auth=CLIENT)).json() == {"active": False}


async def test_a_taken_name_or_a_full_server_is_409(default_config, rsa_key) -> None:
    config = default_config.model_copy(update={"server": default_config.server.model_copy(
        update={"max_namespaces": 2})})
    app = build_app(config, rsa_key)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test") as client:
        assert (await new(client, name="one")).status_code == 201
        assert (await new(client, name="one")).status_code == 409
        assert (await new(client)).status_code == 201  # a generated name
        full = await new(client, name="three")
        assert full.status_code == 409 and "max_namespaces" in full.json()["error_description"]
        assert len((await client.get("/_mock/namespaces")).json()["namespaces"]) == 2


async def test_an_idle_namespace_expires(app, client: httpx.AsyncClient) -> None:
    registry = app.state.namespaces
    now = [1_000_000.0]
    registry.wall_clock = lambda: now[0]
    await new(client, name="idle")
    await new(client, name="busy")
    now[0] += 3000
    assert (await client.get("/ns/busy/jwks")).status_code == 200  # a request keeps it alive
    now[0] += 700  # idle 3700 s, busy 700 s: the default namespace_idle_ttl is 3600
    assert (await client.get("/ns/idle/jwks")).status_code == 404
    assert (await client.get("/ns/busy/jwks")).status_code == 200
    assert [n["name"] for n in (await client.get("/_mock/namespaces")).json()["namespaces"]] == ["busy"]


async def test_namespaces_are_managed_at_the_root_only(client: httpx.AsyncClient) -> None:
    await new(client, name="inner")
    assert (await client.post("/ns/inner/_mock/namespaces", json={"name": "x"})).status_code == 404


async def test_the_dashboard_switches_namespace(client: httpx.AsyncClient) -> None:
    await new(client, name="ui-ns")
    root = await client.get("/_mock/ui")
    assert 'href="/ns/ui-ns/_mock/ui"' in root.text
    inner = await client.get("/ns/ui-ns/_mock/ui")
    assert inner.status_code == 200
    assert 'action="/ns/ui-ns/_mock/ui/clock"' in inner.text and "<strong>ui-ns</strong>" in inner.text


async def test_the_admin_token_guards_namespaces_too(default_config, rsa_key) -> None:
    from mock_op_auth.settings import Settings

    app = build_app(default_config, rsa_key, Settings(admin_token="s3cret"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test") as client:
        assert (await new(client, name="x")).status_code == 401
        ok = await client.post("/_mock/namespaces", json={"name": "x"}, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 201
        assert (await client.get("/ns/x/_mock/requests")).status_code == 401


# -- the pytest plugin against a running server -----------------------------------------------------------

PLUGIN_TESTS = """
    import httpx, pytest

    @pytest.mark.parametrize("n", range(6))
    def test_isolated(op_auth, n):
        assert "/ns/" in op_auth.url
        assert op_auth.requests() == []
        op_auth.advance(100 * n)
        op_auth.add_rule(match={"endpoint": "jwks"}, respond={"status": 500}, times=1)
        assert httpx.get(op_auth.jwks_url).status_code == 500
        assert httpx.get(op_auth.jwks_url).status_code == 200
        token = op_auth.token()
        body = httpx.post(op_auth.url + "/introspect", data={"token": token}, auth=("demo-client", "demo-secret"))
        assert body.json()["iss"] == op_auth.issuer
        assert len(op_auth.requests(endpoint="jwks")) == 2

    @pytest.mark.op_auth(fixtures="bank.yaml", scenario="down")
    def test_marker(op_auth):
        with pytest.raises(Exception, match="503"):
            op_auth.token("bank", "bank-secret")
"""


def run_pytest(folder: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """A user's pytest session in ``folder`` (a subprocess: the plugin comes from its entry point)."""
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:asyncio", "-p", "no:cacheprovider", *args],
                          cwd=folder, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_the_plugin_takes_a_namespace_per_test_from_a_running_server(tmp_path: Path, store: str) -> None:
    import yaml

    port = free_port()
    args = ("--state", str(tmp_path / "state.db")) if store == "sqlite" else ()
    server = start(port, *args, log=tmp_path / "server.log")
    try:
        project = tmp_path / "project"
        project.mkdir()
        (project / "bank.yaml").write_text(yaml.safe_dump(BANK))
        (project / "test_user.py").write_text(textwrap.dedent(PLUGIN_TESTS))
        url = f"http://127.0.0.1:{port}"
        result = run_pytest(project, "-n", "2", "--op-auth-url", url)
        assert result.returncode == 0 and "7 passed" in result.stdout, result.stdout + result.stderr
        assert httpx.get(f"{url}/_mock/namespaces").json()["namespaces"] == []  # each deleted after its test
        assert httpx.get(f"{url}/_mock/requests", params={"endpoint": "token"}).json()["requests"] == []
    finally:
        stop(server)


def test_the_plugin_reads_the_url_from_the_environment(tmp_path: Path) -> None:
    port = free_port()
    server = start(port, log=tmp_path / "server.log")
    try:
        (tmp_path / "test_remote.py").write_text(textwrap.dedent(f"""
            def test_remote(op_auth):
                assert op_auth.url.startswith("http://127.0.0.1:{port}/ns/")
        """))
        result = run_pytest(tmp_path, env={"MOCK_OP_AUTH_URL": f"http://127.0.0.1:{port}"})
        assert result.returncode == 0 and "1 passed" in result.stdout, result.stdout + result.stderr
    finally:
        stop(server)


async def test_a_namespaces_pages_post_back_to_the_namespace(client: httpx.AsyncClient) -> None:
    """The login page (prompt=login) and the device page are answered at the namespace's own paths."""
    await new(client, name="pages")
    login = await client.get("/ns/pages/authorize", params={
        "client_id": "demo-client", "redirect_uri": REDIRECT, "response_type": "code", "scope": "openid",
        "prompt": "login"})
    assert login.status_code == 200 and 'action="/ns/pages/authorize/decision"' in login.text
    device = await client.get("/ns/pages/device")
    assert device.status_code == 200 and 'action="/ns/pages/device"' in device.text
    root = await client.get("/device")
    assert 'action="/device"' in root.text
