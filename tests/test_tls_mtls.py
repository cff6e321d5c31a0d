"""HTTPS and mutual TLS end to end (DESIGN §7): real handshakes against a real server, client
certificates issued by the mock's CA, tls_client_auth, require_mtls, certificate-bound tokens."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography import x509

from mock_op_auth.testing import OpAuth, run_server
from mock_op_auth.tls.certs import ClientCertificate, ensure_ca, write_client_certificate

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "fixtures" / "mtls.yaml"


@pytest.fixture(scope="module")
def mock() -> Iterator[OpAuth]:
    with run_server(FIXTURE, tls=True) as helper:
        yield helper


def client(mock: OpAuth, cert: tuple[str, str] | None = None) -> httpx.Client:
    """httpx trusting the mock's CA and, given ``(cert_file, key_file)``, presenting that certificate."""
    assert mock.ca_file is not None
    context = ssl.create_default_context(cafile=mock.ca_file)
    if cert is not None:
        context.load_cert_chain(*cert)
    return httpx.Client(base_url=mock.url, verify=context)


def token(http: httpx.Client, client_id: str, secret: str | None = None) -> httpx.Response:
    data = {"grant_type": "client_credentials", "client_id": client_id}
    if secret:
        data["client_secret"] = secret
    return http.post("/token", data=data)


def test_the_server_speaks_https_that_its_ca_verifies(mock: OpAuth) -> None:
    assert mock.url.startswith("https://127.0.0.1:")
    with client(mock) as http:
        assert http.get("/_mock/health").json() == {"status": "ok"}
    with pytest.raises(httpx.ConnectError), httpx.Client(base_url=mock.url) as untrusting:
        untrusting.get("/_mock/health")  # the system's CAs do not know the mock's


def test_discovery_advertises_mutual_tls(mock: OpAuth) -> None:
    with client(mock) as http:
        doc = http.get("/.well-known/openid-configuration").json()
    assert doc["tls_client_certificate_bound_access_tokens"] is True
    assert "tls_client_auth" in doc["token_endpoint_auth_methods_supported"]
    aliases = doc["mtls_endpoint_aliases"]
    assert aliases["token_endpoint"] == doc["token_endpoint"] == f"{mock.url}/token"
    assert set(aliases) == {"token_endpoint", "introspection_endpoint", "revocation_endpoint", "userinfo_endpoint"}


def test_the_certificate_alone_authenticates_a_tls_client_auth_client(mock: OpAuth) -> None:
    cert = mock.client_certificate("CN=mtls-app,O=Example Org")
    thumbprint = ClientCertificate.from_pem(Path(cert[0]).read_text()).x5t_s256
    with client(mock, cert) as http:
        response = token(http, "mtls-app")
        assert response.status_code == 200, response.text
        access = response.json()["access_token"]
        assert jwt.decode(access, options={"verify_signature": False})["cnf"] == {"x5t#S256": thumbprint}
        assert http.get("/accounts/v3/accounts", headers={"Authorization": f"Bearer {access}"}).status_code == 200
        introspected = http.post("/introspect", data={"token": access, "client_id": "mtls-app"}).json()
        assert introspected["active"] is True and introspected["cnf"] == {"x5t#S256": thumbprint}


def test_a_bound_token_is_refused_without_its_certificate(mock: OpAuth) -> None:
    with client(mock, mock.client_certificate("CN=mtls-app,O=Example Org")) as http:
        access = token(http, "mtls-app").json()["access_token"]
    headers = {"Authorization": f"Bearer {access}"}
    with client(mock) as bare:
        refused = bare.get("/accounts/v3/accounts", headers=headers)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_token"
    assert "certificate" in refused.json()["error_description"]
    with client(mock, mock.client_certificate("CN=someone-else,O=Example Org")) as other:
        assert other.get("/accounts/v3/accounts", headers=headers).status_code == 401


def test_tls_client_auth_without_a_certificate_or_with_another_subject_is_invalid_client(mock: OpAuth) -> None:
    with client(mock) as http:
        missing = token(http, "mtls-app")
    assert missing.status_code == 401 and missing.json()["error"] == "invalid_client"
    with client(mock, mock.client_certificate("CN=impostor,O=Example Org")) as http:
        wrong = token(http, "mtls-app")
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"


def test_require_mtls_wants_the_secret_and_the_certificate(mock: OpAuth) -> None:
    with client(mock) as http:
        assert token(http, "mtls-secret-app", "mtls-secret").status_code == 401
    with client(mock, mock.client_certificate("CN=mtls-secret-app,O=Example Org")) as http:
        assert token(http, "mtls-secret-app", "wrong").status_code == 401
        assert token(http, "mtls-secret-app", "mtls-secret").status_code == 200


def test_a_certificate_binds_even_a_secret_clients_token(mock: OpAuth) -> None:
    with client(mock, mock.client_certificate("CN=anyone,O=Elsewhere")) as http:
        response = token(http, "plain-app", "plain-secret")
    assert response.status_code == 200
    assert "cnf" in jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    with client(mock) as http:
        unbound = token(http, "plain-app", "plain-secret").json()["access_token"]
        assert "cnf" not in jwt.decode(unbound, options={"verify_signature": False})
        assert http.get("/accounts/v3/accounts", headers={"Authorization": f"Bearer {unbound}"}).status_code == 200


def test_a_certificate_of_a_foreign_ca_is_refused_in_the_handshake(mock: OpAuth, tmp_path: Path) -> None:
    foreign = ensure_ca(tmp_path / "foreign")
    cert = write_client_certificate(foreign, "CN=mtls-app,O=Example Org", tmp_path)
    with pytest.raises(httpx.TransportError), client(mock, (str(cert[0]), str(cert[1]))) as http:
        http.get("/_mock/health")
    with client(mock) as http:  # and the server goes on serving
        assert http.get("/_mock/health").status_code == 200


def test_the_control_api_hands_out_the_ca_and_client_certificates(mock: OpAuth) -> None:
    with client(mock) as http:
        ca_pem = http.get("/_mock/certs/ca")
        assert ca_pem.status_code == 200 and ca_pem.text == Path(mock.ca_file or "").read_text()
        issued = http.post("/_mock/certs", json={"subject": "CN=tpp-1,O=Example TPP"})
        assert issued.headers["cache-control"] == "no-store"  # it carries a private key
        assert issued.status_code == 201
        body = issued.json()
        assert set(body) == {"certificate", "private_key", "ca", "x5t#S256"}
        cert = x509.load_pem_x509_certificate(body["certificate"].encode())
        ca = x509.load_pem_x509_certificate(body["ca"].encode())
        cert.verify_directly_issued_by(ca)
        assert cert.subject.rfc4514_string() == "CN=tpp-1,O=Example TPP"
        assert ClientCertificate.from_pem(body["certificate"]).x5t_s256 == body["x5t#S256"]
        for subject in ("not a distinguished name", "emailAddress=\u00e4@example.com"):
            bad = http.post("/_mock/certs", json={"subject": subject})
            assert bad.status_code == 400 and bad.json()["error"] == "invalid_request"


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_tls_1_2_and_1_3_are_served(mock: OpAuth, version: ssl.TLSVersion) -> None:
    context = ssl.create_default_context(cafile=mock.ca_file)
    context.minimum_version = context.maximum_version = version
    with httpx.Client(base_url=mock.url, verify=context) as http:
        assert http.get("/_mock/health").status_code == 200


def test_ops_psd2_token_path_over_mutual_tls_as_ops_tpp_app_calls_it() -> None:
    """client_secret_post + x-api-key + the certificate in the handshake (op-auth.md §4.2, the demo app's
    services/token.ts); the token is bound to the certificate at the AIS intent API."""
    with run_server(ROOT / "fixtures" / "op-psd2.yaml", tls=True) as psd2:
        form = {"grant_type": "client_credentials", "scope": "accounts", "client_id": "psd2-tpp",
                "client_secret": "tpp-secret"}
        headers = {"x-api-key": "tpp-api-key", "x-request-id": "1", "x-session-id": "2"}
        with client(psd2) as bare:
            refused = bare.post("/oauth/token", data=form, headers=headers)
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
        with client(psd2, psd2.client_certificate("CN=psd2-tpp,O=Sandbox TPP,C=FI")) as tpp:
            response = tpp.post("/oauth/token", data=form, headers=headers)
            assert response.status_code == 200, response.text
            access = response.json()["access_token"]
            auth = {**headers, "authorization": f"Bearer {access}", "content-type": "application/json"}
            assert tpp.post("/accounts-psd2/v1/authorizations", headers=auth, content="{}").status_code == 201
        with client(psd2, psd2.client_certificate("CN=other-tpp,O=Sandbox TPP,C=FI")) as other:
            assert other.post("/oauth/token", data=form, headers=headers).status_code == 401
            assert other.post("/accounts-psd2/v1/authorizations", headers=auth, content="{}").status_code == 401


def test_a_namespace_of_an_https_mock_is_reached_over_https(mock: OpAuth) -> None:
    """The namespace helper trusts the mock's CA as its parent does."""
    namespace = mock.namespace()
    try:
        assert namespace.url.startswith("https://") and namespace.ca_file == mock.ca_file
        assert namespace.requests() == [] and namespace.mint("mtls-app")
    finally:
        namespace.delete()
        namespace.close()
