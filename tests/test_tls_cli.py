"""HTTPS from the command line (``serve --tls``, ``certs``, ``healthcheck``), the pytest marker
``op_auth(tls=True)``, a TLS-terminating proxy's certificate header, and fixtures' mTLS keys."""

from __future__ import annotations

import os
import ssl
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from mock_op_auth import load_fixtures
from mock_op_auth.config.schema import Config
from mock_op_auth.errors import FixtureError
from mock_op_auth.tls.certs import ensure_ca, issue_client_certificate
from tests.conftest import build_app
from tests.test_cli import free_port

pytest_plugins = ["pytester"]
CLI = [sys.executable, "-m", "mock_op_auth"]
ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def test_serve_tls_makes_its_ca_once_and_healthcheck_trusts_it(tmp_path: Path) -> None:
    tls_dir, port = tmp_path / "tls", free_port()
    env = {**os.environ, "MOCK_OP_AUTH_TLS_DIR": str(tls_dir), "MOCK_OP_AUTH_TLS_HOSTS": "mock.internal"}
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen([*CLI, "serve", "--tls", "--port", str(port), "--log-level", "warning"],
                            env=env, stdout=subprocess.DEVNULL, stderr=log, text=True)
    try:
        url = f"https://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            health = cli("healthcheck", "--url", url, env={"MOCK_OP_AUTH_TLS_DIR": str(tls_dir)})
            if health.returncode == 0 or time.monotonic() > deadline or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert health.returncode == 0, (health.stderr, (tmp_path / "serve.log").read_text())
        assert health.stdout.strip() == "ok"
        for key in ("ca.key", "server.key"):
            assert stat.S_IMODE((tls_dir / key).stat().st_mode) == 0o600
        server_cert = (tls_dir / "server.crt").read_bytes()
        from cryptography import x509

        names = x509.load_pem_x509_certificate(server_cert).extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value
        assert {"localhost", "mock.internal"} <= set(names.get_values_for_type(x509.DNSName))
        # plain http to the https port is no health
        assert cli("healthcheck", "--url", f"http://127.0.0.1:{port}", "--timeout", "2").returncode == 1
        # without the CA the certificate is not trusted
        other = cli("healthcheck", "--url", url, "--cafile", str(ensure_ca(tmp_path / "other").cert_file))
        assert other.returncode == 1
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def test_a_broken_tls_directory_is_a_clear_exit(tmp_path: Path) -> None:
    tls_dir = tmp_path / "tls"
    tls_dir.mkdir()
    (tls_dir / "ca.crt").write_text("not a certificate")
    (tls_dir / "ca.key").write_text("not a key")
    result = cli("serve", "--tls", "--tls-dir", str(tls_dir), "--port", str(free_port()))
    assert result.returncode == 1
    assert "TLS" in result.stderr and "ca.crt" in result.stderr and "Traceback" not in result.stderr


def test_certs_commands_print_the_files_they_make(tmp_path: Path) -> None:
    ca = cli("certs", "ca", "--tls-dir", str(tmp_path / "tls"))
    assert ca.returncode == 0 and Path(ca.stdout.strip()) == tmp_path / "tls" / "ca.crt"
    issued = cli("certs", "client", "CN=tpp-1,O=Example TPP", "--tls-dir", str(tmp_path / "tls"),
                 "--out", str(tmp_path / "out"))
    assert issued.returncode == 0, issued.stderr
    crt, key = (Path(line) for line in issued.stdout.split())
    assert crt.exists() and stat.S_IMODE(key.stat().st_mode) == 0o600
    context = ssl.create_default_context(cafile=ca.stdout.strip())
    context.load_cert_chain(crt, key)  # the pair belongs together
    for subject in ("no dn here", "CN=tpp-1,emailAddress=\u00e4@example.com"):  # emailAddress is ASCII only
        bad = cli("certs", "client", subject, "--tls-dir", str(tmp_path / "tls"))
        assert bad.returncode == 2 and "distinguished name" in bad.stderr and "Traceback" not in bad.stderr


def test_the_pytest_marker_serves_https(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import ssl
        import httpx
        import pytest

        @pytest.mark.op_auth(tls=True)
        def test_https(op_auth):
            assert op_auth.url.startswith("https://")
            context = ssl.create_default_context(cafile=op_auth.ca_file)
            context.load_cert_chain(*op_auth.client_certificate("CN=tester,O=Example"))
            with httpx.Client(verify=context) as http:
                response = http.post(op_auth.token_url, data={"grant_type": "client_credentials"},
                                     auth=("demo-client", "demo-secret"))
            assert response.status_code == 200
            import jwt
            assert "cnf" in jwt.decode(response.json()["access_token"], options={"verify_signature": False})

        def test_plain(op_auth):
            assert op_auth.url.startswith("http://")
    """)
    pytester.runpytest("-p", "no:asyncio").assert_outcomes(passed=2)


PROXIED = """
server:
  client_certificate_header: x-client-certificate
clients:
  tpp:
    secret: tpp-secret
    tls_client_auth_subject_dn: CN=tpp,O=Example TPP
    require_mtls: true
    grant_types: [client_credentials]
    scopes: [accounts]
"""


def proxied_config(tmp_path: Path, text: str = PROXIED) -> Config:
    path = tmp_path / "proxied.yaml"
    path.write_text(text)
    return load_fixtures(path)


def pem_header(tmp_path: Path, subject: str) -> str:
    cert_pem, _ = issue_client_certificate(ensure_ca(tmp_path / "ca"), subject)
    return "".join(cert_pem.splitlines())  # one-line PEM, BEGIN/END kept, as OP's sandbox forwards it


TOKEN = {"grant_type": "client_credentials", "client_id": "tpp", "client_secret": "tpp-secret"}


async def test_a_configured_proxy_header_carries_the_certificate(tmp_path: Path) -> None:
    app = build_app(proxied_config(tmp_path))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test") as http:
        forwarded = {"x-client-certificate": pem_header(tmp_path, "CN=tpp,O=Example TPP")}
        ok = await http.post("/token", data=TOKEN, headers=forwarded)
        assert ok.status_code == 200
        introspected = await http.post("/introspect", headers=forwarded, data={
            "token": ok.json()["access_token"], "client_id": "tpp", "client_secret": "tpp-secret"})
        assert "x5t#S256" in introspected.json()["cnf"]
        other = await http.post("/token", data=TOKEN, headers={"x-client-certificate": pem_header(tmp_path, "CN=x")})
        assert other.status_code == 401 and other.json()["error"] == "invalid_client"
        missing = await http.post("/token", data=TOKEN)
        assert missing.status_code == 401 and missing.json()["error"] == "invalid_client"
        garbage = await http.post("/token", data=TOKEN, headers={"x-client-certificate": "-----BEGIN nonsense"})
        assert garbage.status_code == 400 and garbage.json()["error"] == "invalid_request"


async def test_a_proxy_header_is_never_read_unless_configured(tmp_path: Path) -> None:
    app = build_app(proxied_config(tmp_path, PROXIED.replace("  client_certificate_header: x-client-certificate\n",
                                                             "  access_token_ttl: 3600\n")))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test") as http:
        refused = await http.post("/token", data=TOKEN,
                                  headers={"x-client-certificate": pem_header(tmp_path, "CN=tpp,O=Example TPP")})
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"


@pytest.mark.parametrize(("client", "problem"), [
    ("secret: s\n    require_mtls: true", "require_mtls needs tls_client_auth_subject_dn"),
    ("secret: s\n    tls_client_auth_subject_dn: not a dn", "distinguished name"),
])
def test_fixture_keys_are_checked_when_loaded(tmp_path: Path, client: str, problem: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(f"clients:\n  c:\n    {client}\n    grant_types: [client_credentials]\n")
    with pytest.raises(FixtureError, match=problem):
        load_fixtures(path)
