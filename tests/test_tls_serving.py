"""HTTPS through uvicorn with real handshakes: versions, client certificates, the ASGI TLS extension (DESIGN §7).

Each server is a real uvicorn on 127.0.0.1 in a thread, serving an app that echoes what it
learns of the connection. The module runs against both HTTP/1.1 protocols on both loops
uvicorn may pick (httptools on uvloop, h11 on asyncio). ``openssl`` (the CLI) shows the
server's CertificateRequest; .ci/run installs it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import shutil
import socket
import ssl
import subprocess
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from mock_op_auth.tls.certs import (
    ClientCertificate,
    TlsFileError,
    ensure_ca,
    ensure_server_cert,
    write_client_certificate,
)
from mock_op_auth.tls.serving import (
    TlsH11Protocol,
    TlsHttpToolsProtocol,
    TlsSettings,
    peer_certificate,
    prepare_tls,
    uvicorn_options,
)

HOST = "127.0.0.1"
TPP_DN = "CN=tpp-1,organizationIdentifier=PSDFI-FINFSA-29884997,O=Example TPP Oy,C=FI"
TLS_LOG = "mock_op_auth.tls"


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """What the app can see of the TLS connection: the raw extension and ``peer_certificate``."""
    assert scope["type"] == "http"
    peer = peer_certificate(scope)
    body = json.dumps({
        "scheme": scope["scheme"],
        "tls": scope.get("extensions", {}).get("tls"),
        "peer": None if peer is None else {"subject_dn": peer.subject_dn, "x5t#S256": peer.x5t_s256},
    }).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


@dataclass(frozen=True)
class Pki:
    tls: TlsSettings
    client: tuple[Path, Path]  # signed by the mock's CA
    partner: tuple[Path, Path]  # signed by the --tls-client-ca
    foreign: tuple[Path, Path]  # signed by a CA nobody trusts


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    root = tmp_path_factory.mktemp("tls")
    partner_ca, foreign_ca = ensure_ca(root / "partner"), ensure_ca(root / "foreign")
    tls = prepare_tls(root / "mock", hosts=["mock.test"], client_ca_file=partner_ca.cert_file)
    return Pki(
        tls,
        write_client_certificate(tls.ca, TPP_DN, root / "clients"),
        write_client_certificate(partner_ca, "CN=partner-tpp,O=Partner", root / "clients"),
        write_client_certificate(foreign_ca, "CN=intruder", root / "clients"),
    )


@contextlib.contextmanager
def running(tls: TlsSettings, http: str = "auto", loop: str = "auto") -> Iterator[int]:
    """Serve ``echo`` over HTTPS on a free loopback port; yields the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind((HOST, 0))
    config = uvicorn.Config(echo, log_config=None, log_level="warning", access_log=False, lifespan="off",
                            ws="none", loop=loop, **uvicorn_options(tls, http=http))  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.005)
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture(scope="module", params=[("httptools", "uvloop"), ("h11", "asyncio")], ids=lambda p: "-".join(p))
def port(request: pytest.FixtureRequest, pki: Pki) -> Iterator[int]:
    with running(pki.tls, *request.param) as served:
        yield served


@pytest.fixture
def tls_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING, logger=TLS_LOG)
    return caplog


def tls_messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == TLS_LOG]


def client_context(
    pki: Pki, cert: tuple[Path, Path] | None = None, version: ssl.TLSVersion | None = None
) -> ssl.SSLContext:
    """A verifying client that trusts the mock's ca.crt, strictly as Python 3.13 does by default."""
    context = ssl.create_default_context(cafile=pki.tls.ca.cert_file)
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    if version is not None:
        context.minimum_version = context.maximum_version = version
    if cert is not None:
        context.load_cert_chain(*cert)
    return context


def get(port: int, context: ssl.SSLContext, host: str = HOST) -> dict[str, Any]:
    response = httpx.get(f"https://{host}:{port}/", verify=context)
    assert response.status_code == 200
    return response.json()


def send_raw(port: int, data: bytes) -> None:
    """Send bytes that are no TLS handshake, then wait until the server hangs up."""
    with socket.create_connection((HOST, port), timeout=5) as sock, contextlib.suppress(OSError):
        sock.sendall(data)
        while sock.recv(4096):
            pass


def x5t_of(cert_file: Path) -> str:
    return ClientCertificate.from_pem(cert_file.read_text()).x5t_s256


# -- client certificates reach the app ---------------------------------------------------------


def test_client_certificate_reaches_the_app(port: int, pki: Pki) -> None:
    echoed = get(port, client_context(pki, pki.client))
    assert echoed["scheme"] == "https"
    assert echoed["peer"] == {"subject_dn": TPP_DN, "x5t#S256": x5t_of(pki.client[0])}
    tls = echoed["tls"]
    assert tls["client_cert_name"] == TPP_DN
    assert tls["client_cert_chain"] == [pki.client[0].read_text()]
    assert tls["client_cert_error"] is None
    assert tls["server_cert"] == pki.tls.cert_file.read_text()


def test_without_a_client_certificate_the_request_works(port: int, pki: Pki) -> None:
    echoed = get(port, client_context(pki))
    assert echoed["peer"] is None
    assert echoed["tls"]["client_cert_chain"] == []
    assert echoed["tls"]["client_cert_name"] is None


def test_every_request_of_a_connection_sees_the_certificate(port: int, pki: Pki) -> None:
    with httpx.Client(verify=client_context(pki, pki.client)) as client:
        subjects = [client.get(f"https://{HOST}:{port}/").json()["peer"]["subject_dn"] for _ in range(3)]
    assert subjects == [TPP_DN] * 3


def test_certificate_of_the_extra_client_ca_is_accepted(port: int, pki: Pki) -> None:
    echoed = get(port, client_context(pki, pki.partner))
    assert echoed["peer"] == {"subject_dn": "CN=partner-tpp,O=Partner", "x5t#S256": x5t_of(pki.partner[0])}


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_certificate_of_a_foreign_ca_is_refused_in_the_handshake(
    port: int, pki: Pki, version: ssl.TLSVersion, tls_log: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(httpx.TransportError):
        get(port, client_context(pki, pki.foreign, version))
    assert tls_messages(tls_log) == [
        "TLS handshake failed: client certificate refused: unable to get local issuer certificate "
        "(it must chain to the mock's CA or to --tls-client-ca)"
    ]
    assert get(port, client_context(pki, pki.client, version))["peer"]["subject_dn"] == TPP_DN


# -- protocol versions -------------------------------------------------------------------------


@pytest.mark.parametrize(("version", "number"), [(ssl.TLSVersion.TLSv1_2, 0x0303), (ssl.TLSVersion.TLSv1_3, 0x0304)])
def test_tls_1_2_and_1_3_are_served(port: int, pki: Pki, version: ssl.TLSVersion, number: int) -> None:
    context = client_context(pki, pki.client, version)
    connection = http.client.HTTPSConnection(HOST, port, context=context, timeout=5)
    try:
        connection.request("GET", "/")
        echoed = json.loads(connection.getresponse().read())
        cipher = connection.sock.cipher()[0]
    finally:
        connection.close()
    suite = next(c["id"] & 0xFFFF for c in context.get_ciphers() if c["name"] == cipher)
    assert echoed["tls"]["tls_version"] == number
    assert echoed["tls"]["cipher_suite"] == suite
    assert echoed["peer"]["subject_dn"] == TPP_DN


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_tls_older_than_1_2_is_refused(
    port: int, pki: Pki, version: ssl.TLSVersion, tls_log: pytest.LogCaptureFixture
) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(pki.tls.ca.cert_file)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # setting an old version is deprecated
        context.minimum_version = context.maximum_version = version
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # let this client's OpenSSL offer the old version at all
    with socket.create_connection((HOST, port), timeout=5) as sock, pytest.raises(OSError):
        context.wrap_socket(sock, server_hostname="localhost")
    assert tls_messages(tls_log) == [
        "TLS handshake failed: UNSUPPORTED_PROTOCOL (the client offers only TLS versions older than 1.2)"
    ]


@pytest.mark.parametrize("flag", ["-tls1_2", "-tls1_3"])
def test_the_handshake_asks_for_a_client_certificate(port: int, pki: Pki, flag: str) -> None:
    assert shutil.which("openssl"), "the openssl command is needed (Debian package openssl)"
    shown = subprocess.run(
        ["openssl", "s_client", "-connect", f"{HOST}:{port}", flag, "-msg", "-CAfile", str(pki.tls.ca.cert_file)],
        input="", capture_output=True, text=True, timeout=20, check=False,
    ).stdout
    assert "CertificateRequest" in shown
    assert "Verify return code: 0 (ok)" in shown


@pytest.mark.parametrize("host", ["localhost", HOST])
def test_server_certificate_verifies_for_its_names(port: int, pki: Pki, host: str) -> None:
    assert get(port, client_context(pki), host=host)["scheme"] == "https"


# -- what the server does with bytes that are no TLS -------------------------------------------


def test_failed_handshakes_are_logged_once_per_connection(
    port: int, pki: Pki, tls_log: pytest.LogCaptureFixture
) -> None:
    send_raw(port, b"GET / HTTP/1.1\r\nHost: mock\r\n\r\n")
    send_raw(port, bytes(range(256)) * 64)
    with socket.create_connection((HOST, port), timeout=5):
        pass  # a port probe: connected and gone, nothing worth a line
    assert get(port, client_context(pki, pki.client))["peer"]["subject_dn"] == TPP_DN
    assert tls_messages(tls_log) == [
        "TLS handshake failed: HTTP_REQUEST (plain HTTP sent to the HTTPS port)",
        "TLS handshake failed: WRONG_VERSION_NUMBER (the client does not speak TLS)",
    ]


# -- settings ----------------------------------------------------------------------------------


def test_uvicorn_options_choose_the_protocol(pki: Pki) -> None:
    assert uvicorn_options(pki.tls)["http"] is TlsHttpToolsProtocol
    assert uvicorn_options(pki.tls, http="h11")["http"] is TlsH11Protocol
    assert uvicorn_options(pki.tls)["ssl_context_factory"](None, None) is pki.tls.ssl_context


def test_context_refuses_old_versions_and_asks_for_certificates(pki: Pki) -> None:
    context = pki.tls.ssl_context
    assert (context.minimum_version, context.maximum_version) == (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3)
    assert context.verify_mode == ssl.CERT_OPTIONAL
    assert pki.tls.client_ca_files[0] == pki.tls.ca.cert_file


def test_a_server_certificate_of_ones_own_is_served(tmp_path: Path) -> None:
    own = ensure_server_cert(tmp_path / "company")
    tls = prepare_tls(tmp_path / "tls", cert_file=own.cert_file, key_file=own.key_file)
    assert tls.ca.cert_file == tmp_path / "tls" / "ca.crt"
    assert not (tmp_path / "tls" / "server.crt").exists()
    context = ssl.create_default_context(cafile=own.ca.cert_file)
    context.load_cert_chain(*write_client_certificate(tls.ca, "CN=tpp-2", tmp_path / "clients"))
    with running(tls) as served:
        assert get(served, context)["peer"]["subject_dn"] == "CN=tpp-2"


def test_a_certificate_file_holding_its_key_needs_no_key_file(tmp_path: Path) -> None:
    own = ensure_server_cert(tmp_path / "company")
    combined = tmp_path / "combined.pem"
    combined.write_bytes(own.cert_file.read_bytes() + own.key_file.read_bytes())
    assert prepare_tls(tmp_path / "tls", cert_file=combined).key_file is None


@pytest.mark.parametrize(
    ("content", "reason"),
    [(None, "No such file or directory"), (b"garbage", "PEM lib"), ("other key", "KEY_VALUES_MISMATCH")],
)
def test_an_unusable_server_certificate_is_a_clear_error(tmp_path: Path, content: Any, reason: str) -> None:
    own = ensure_server_cert(tmp_path / "company")
    if content == "other key":
        own.key_file.write_bytes(ensure_server_cert(tmp_path / "other").key_file.read_bytes())
    elif content is not None:
        own.cert_file.write_bytes(content)
    else:
        own.cert_file.unlink()
    with pytest.raises(TlsFileError, match=f"cannot serve HTTPS with {own.cert_file} and {own.key_file}: .*{reason}"):
        prepare_tls(tmp_path / "tls", cert_file=own.cert_file, key_file=own.key_file)


def test_an_unusable_client_ca_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "partner.crt").write_text("not a certificate")
    with pytest.raises(TlsFileError, match=r"cannot trust client certificates of .*partner\.crt"):
        prepare_tls(tmp_path / "tls", client_ca_file=tmp_path / "partner.crt")


def test_a_key_without_its_certificate_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs its certificate"):
        prepare_tls(tmp_path, key_file=tmp_path / "server.key")


def test_peer_certificate_is_none_without_the_extension() -> None:
    assert peer_certificate({"type": "http", "scheme": "http"}) is None
    assert peer_certificate({"type": "http", "extensions": {"tls": {"client_cert_chain": []}}}) is None


def test_peer_certificate_reads_any_server_s_extension(pki: Pki) -> None:
    pem = pki.partner[0].read_text()
    found = peer_certificate({"type": "http", "extensions": {"tls": {"client_cert_chain": iter([pem])}}})
    assert found == ClientCertificate.from_pem(pem)
