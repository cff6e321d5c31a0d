"""The TLS directory, client certificates, subject DNs, thumbprints and forwarded certificates (DESIGN §7)."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
import stat
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mock_op_auth.tls.certs import (
    CA_CERT,
    CA_KEY,
    SERVER_CERT,
    SERVER_KEY,
    ClientCertificate,
    ForwardedCertificateError,
    TlsFileError,
    default_tls_dir,
    ensure_ca,
    ensure_server_cert,
    issue_client_certificate,
    parse_forwarded_certificate,
    write_client_certificate,
    x5t_s256,
)
from mock_op_auth.tls.names import DistinguishedNameError, match_dn, parse_dn, subject_dn

OP_DN = "CN=tpp-1,organizationIdentifier=PSDFI-FINFSA-29884997,O=Example TPP Oy,C=FI"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def san(cert_file: Path) -> x509.SubjectAlternativeName:
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value


# -- where the directory is --------------------------------------------------------------------


def test_default_tls_dir_is_under_xdg_state_home() -> None:
    assert default_tls_dir({"XDG_STATE_HOME": "/srv/state"}) == Path("/srv/state/mock-op-auth/tls")


@pytest.mark.parametrize("environ", [{}, {"XDG_STATE_HOME": ""}, {"XDG_STATE_HOME": "relative/state"}])
def test_default_tls_dir_falls_back_to_local_state(environ: dict[str, str]) -> None:
    assert default_tls_dir(environ) == Path.home() / ".local/state/mock-op-auth/tls"


# -- the CA and the server certificate ---------------------------------------------------------


def test_ca_is_made_once_then_reused(tmp_path: Path) -> None:
    first = ensure_ca(tmp_path / "tls")
    written = (first.cert_file.read_bytes(), first.key_file.read_bytes())
    again = ensure_ca(tmp_path / "tls")
    assert (again.cert_file.read_bytes(), again.key_file.read_bytes()) == written
    assert again.certificate == first.certificate
    assert again.cert_pem == written[0].decode()


def test_ca_is_a_ca(tmp_path: Path) -> None:
    ca = ensure_ca(tmp_path).certificate
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert ca.not_valid_after_utc - ca.not_valid_before_utc > timedelta(days=3600)


def test_keys_are_created_0600_in_a_new_0700_directory(tmp_path: Path) -> None:
    previous = os.umask(0)  # the modes must come from the code, not from a friendly umask
    try:
        server = ensure_server_cert(tmp_path / "new" / "tls")
    finally:
        os.umask(previous)
    assert mode(tmp_path / "new" / "tls") == 0o700
    assert mode(server.ca.key_file) == 0o600
    assert mode(server.key_file) == 0o600
    assert mode(server.cert_file) == 0o644
    made = sorted(p.name for p in server.cert_file.parent.iterdir())
    assert made == [".lock", CA_CERT, CA_KEY, SERVER_CERT, SERVER_KEY]


def test_an_existing_directory_keeps_its_mode(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    ensure_ca(tmp_path)
    assert mode(tmp_path) == 0o755


def test_server_certificate_names_loopback_and_given_hosts(tmp_path: Path) -> None:
    server = ensure_server_cert(tmp_path, ["mock", "10.0.0.5", "[fd00::1]", "Issuer.Example.TEST.", " ", "*.svc.test"])
    names = san(server.cert_file)
    assert names.get_values_for_type(x509.DNSName) == ["localhost", "mock", "issuer.example.test", "*.svc.test"]
    assert names.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"),
        ipaddress.ip_address("10.0.0.5"), ipaddress.ip_address("fd00::1"),
    ]
    cert = x509.load_pem_x509_certificate(server.cert_file.read_bytes())
    cert.verify_directly_issued_by(server.ca.certificate)
    assert cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.SERVER_AUTH]
    )


def test_server_certificate_is_reused_while_it_covers_the_hosts(tmp_path: Path) -> None:
    ensure_server_cert(tmp_path, ["mock", "10.0.0.5"])
    written = (tmp_path / SERVER_CERT).read_bytes(), (tmp_path / SERVER_KEY).read_bytes()
    ensure_server_cert(tmp_path, ["mock", "10.0.0.5"])
    ensure_server_cert(tmp_path, ["MOCK"])
    ensure_server_cert(tmp_path)
    assert ((tmp_path / SERVER_CERT).read_bytes(), (tmp_path / SERVER_KEY).read_bytes()) == written


def test_server_certificate_is_issued_again_for_a_new_host(tmp_path: Path) -> None:
    ensure_server_cert(tmp_path, ["mock"])
    before = (tmp_path / SERVER_CERT).read_bytes()
    ca_before = (tmp_path / CA_CERT).read_bytes()
    ensure_server_cert(tmp_path, ["mock", "op-auth"])
    assert (tmp_path / SERVER_CERT).read_bytes() != before
    assert "op-auth" in san(tmp_path / SERVER_CERT).get_values_for_type(x509.DNSName)
    assert (tmp_path / CA_CERT).read_bytes() == ca_before


def test_server_certificate_is_issued_again_near_its_end(tmp_path: Path) -> None:
    ensure_server_cert(tmp_path, now=datetime.now(UTC) - timedelta(days=340))
    before = (tmp_path / SERVER_CERT).read_bytes()
    ensure_server_cert(tmp_path)
    assert (tmp_path / SERVER_CERT).read_bytes() != before


def test_server_certificate_is_issued_again_for_a_new_ca(tmp_path: Path) -> None:
    ensure_server_cert(tmp_path)
    (tmp_path / CA_CERT).unlink()
    (tmp_path / CA_KEY).unlink()
    server = ensure_server_cert(tmp_path)
    cert = x509.load_pem_x509_certificate(server.cert_file.read_bytes())
    cert.verify_directly_issued_by(server.ca.certificate)


def test_a_server_key_without_its_certificate_is_replaced(tmp_path: Path) -> None:
    """What a crash between writing a new key and its certificate leaves behind."""
    ensure_server_cert(tmp_path)
    (tmp_path / SERVER_KEY).write_bytes(ensure_server_cert(tmp_path / "other").key_file.read_bytes())
    server = ensure_server_cert(tmp_path)
    key = serialization.load_pem_private_key(server.key_file.read_bytes(), None)
    assert key.public_key() == x509.load_pem_x509_certificate(server.cert_file.read_bytes()).public_key()


def test_a_lone_ca_key_is_replaced(tmp_path: Path) -> None:
    """What a crash while the CA is first made leaves behind: nothing trusts that key yet."""
    ensure_ca(tmp_path)
    (tmp_path / CA_CERT).unlink()
    ca = ensure_ca(tmp_path)
    assert ca.private_key.public_key() == ca.certificate.public_key()


def test_two_processes_starting_at_once_agree_on_one_ca(tmp_path: Path) -> None:
    script = textwrap.dedent("""
        import hashlib, sys
        from mock_op_auth.tls.certs import ensure_server_cert
        server = ensure_server_cert(sys.argv[1], ["mock"])
        print(hashlib.sha256(server.ca.cert_file.read_bytes()).hexdigest(), server.ca.certificate.serial_number)
    """)
    runs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True)
            for _ in range(3)]
    outputs = {run.communicate(timeout=60)[0] for run in runs}
    assert all(run.returncode == 0 for run in runs)
    assert len(outputs) == 1
    assert outputs.pop().split()[0] == hashlib.sha256((tmp_path / CA_CERT).read_bytes()).hexdigest()
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


# -- files that cannot be used -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (CA_CERT, b"not a certificate\n", r"ca\.crt is not a PEM certificate"),
        (CA_CERT, b"", r"ca\.crt is not a PEM certificate"),
        (CA_KEY, b"-----BEGIN PRIVATE KEY-----\nZ2FyYmFnZQ==\n-----END PRIVATE KEY-----\n", r"ca\.key is not a PEM"),
    ],
)
def test_a_corrupt_ca_file_is_a_clear_error(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    ensure_ca(tmp_path)
    (tmp_path / name).write_bytes(content)
    with pytest.raises(TlsFileError, match=message) as caught:
        ensure_ca(tmp_path)
    assert str(tmp_path / name) in str(caught.value)
    assert "delete" in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_a_ca_certificate_without_its_key_is_a_clear_error(tmp_path: Path) -> None:
    ensure_ca(tmp_path)
    (tmp_path / CA_KEY).unlink()
    with pytest.raises(TlsFileError, match=r"has no ca\.key beside it"):
        ensure_ca(tmp_path)


def test_a_ca_key_of_another_certificate_is_a_clear_error(tmp_path: Path) -> None:
    ensure_ca(tmp_path / "a")
    ensure_ca(tmp_path / "b")
    (tmp_path / "a" / CA_KEY).write_bytes((tmp_path / "b" / CA_KEY).read_bytes())
    with pytest.raises(TlsFileError, match=r"ca\.key is not the key of"):
        ensure_ca(tmp_path / "a")


def test_an_expired_ca_is_a_clear_error(tmp_path: Path) -> None:
    ensure_ca(tmp_path, now=datetime.now(UTC) - timedelta(days=3700))
    with pytest.raises(TlsFileError, match="expired on"):
        ensure_ca(tmp_path)


def test_an_encrypted_ca_key_is_a_clear_error(tmp_path: Path) -> None:
    ca = ensure_ca(tmp_path)
    ca.key_file.write_bytes(ca.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    ))
    with pytest.raises(TlsFileError, match="encrypted"):
        ensure_ca(tmp_path)


def test_a_corrupt_server_certificate_is_a_clear_error(tmp_path: Path) -> None:
    ensure_server_cert(tmp_path)
    (tmp_path / SERVER_CERT).write_bytes(b"\x00garbage")
    with pytest.raises(TlsFileError, match=r"server\.crt is not a PEM certificate"):
        ensure_server_cert(tmp_path)


def test_an_unwritable_directory_is_a_clear_error(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    try:
        if os.access(tmp_path, os.W_OK):  # root ignores modes; a file where the directory should be does not
            (tmp_path / "tls").write_text("a file")
            target = tmp_path / "tls" / "sub"
        else:
            target = tmp_path / "tls"
        with pytest.raises(TlsFileError, match="cannot create"):
            ensure_ca(target)
    finally:
        tmp_path.chmod(0o700)


def test_a_directory_without_a_lock_still_serves_its_files(tmp_path: Path) -> None:
    """As in a read-only mount holding a CA and a server certificate made elsewhere."""
    made = ensure_server_cert(tmp_path)
    (tmp_path / ".lock").unlink()
    (tmp_path / ".lock").mkdir()  # a lock that cannot be opened
    assert ensure_server_cert(tmp_path).ca.certificate == made.ca.certificate


@pytest.mark.parametrize("host", ["https://mock:8443", "two words", "a..b", "bad/host"])
def test_a_host_that_is_no_name_or_address_is_a_value_error(tmp_path: Path, host: str) -> None:
    with pytest.raises(ValueError, match="not a host name or IP address"):
        ensure_server_cert(tmp_path, [host])


# -- client certificates -----------------------------------------------------------------------


def test_client_certificate_carries_the_subject_and_client_auth(tmp_path: Path) -> None:
    ca = ensure_ca(tmp_path)
    cert_pem, key_pem = issue_client_certificate(ca, OP_DN)
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    assert subject_dn(cert) == OP_DN
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)[0].value == "PSDFI-FINFSA-29884997"
    assert cert.issuer == ca.certificate.subject
    cert.verify_directly_issued_by(ca.certificate)
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(days=365, hours=1)
    key = serialization.load_pem_private_key(key_pem.encode(), None)
    assert key.public_key() == cert.public_key()
    assert key_pem.startswith("-----BEGIN PRIVATE KEY-----")


def test_client_certificate_never_outlives_the_ca(tmp_path: Path) -> None:
    ca = ensure_ca(tmp_path, now=datetime.now(UTC) - timedelta(days=3600))
    cert = x509.load_pem_x509_certificate(issue_client_certificate(ca, "CN=late")[0].encode())
    assert cert.not_valid_after_utc == ca.certificate.not_valid_after_utc


def test_client_certificate_files_are_named_by_the_common_name(tmp_path: Path) -> None:
    ca = ensure_ca(tmp_path / "tls")
    cert_file, key_file = write_client_certificate(ca, "CN=tpp 1/a,O=Example TPP", tmp_path / "out")
    assert (cert_file.name, key_file.name) == ("tpp-1-a.crt", "tpp-1-a.key")
    assert mode(key_file) == 0o600
    assert ClientCertificate.from_pem(cert_file.read_text()).subject_dn == "CN=tpp 1/a,O=Example TPP"
    unnamed = {write_client_certificate(ca, subject, tmp_path / "out")[0].name for subject in ("O=No Common Name",
                                                                                              "O=Another", "CN=.")}
    assert len(unnamed) == 3 and all(n.startswith("client-") and n.endswith(".crt") for n in unnamed)
    again = write_client_certificate(ca, "O=Another", tmp_path / "out")[0].name
    assert again in unnamed  # the same subject is issued again in place


@pytest.mark.parametrize("subject", ["hello", "", "   ", "FOO=bar", "C=FIN", "CN=a,,O=b", "CN=" + "x" * 65, "=x",
                                     "emailAddress=\u00e4@example.com", "CN=x,1.2.840.113549.1.9.1=#0c03e282ac"])
def test_a_subject_that_is_not_a_dn_is_refused(tmp_path: Path, subject: str) -> None:
    ca = ensure_ca(tmp_path)
    with pytest.raises(DistinguishedNameError) as caught:
        issue_client_certificate(ca, subject)
    assert isinstance(caught.value, ValueError)
    assert "distinguished name" in str(caught.value)


# -- distinguished names and thumbprints --------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("CN=tpp-1,O=Example TPP", "CN=tpp-1,O=Example TPP"),
        ("cn=tpp-1, o = Example TPP", "CN=tpp-1,O=Example TPP"),
        ("CN=tpp-1,ORGANIZATIONIDENTIFIER=PSDFI-FINFSA-29884997,C=FI",
         "CN=tpp-1,organizationIdentifier=PSDFI-FINFSA-29884997,C=FI"),
        ("CN=tpp-1,2.5.4.97=PSDFI-FINFSA-29884997", "CN=tpp-1,organizationIdentifier=PSDFI-FINFSA-29884997"),
        ("serialNumber=123,emailAddress=tpp@example.test", "serialNumber=123,emailAddress=tpp@example.test"),
        (r"CN=a\, b\ ,O=x", r"CN=a\, b\ ,O=x"),
    ],
)
def test_dn_is_parsed_and_written_in_rfc4514_form(tmp_path: Path, written: str, canonical: str) -> None:
    cert_pem, _ = issue_client_certificate(ensure_ca(tmp_path), written)
    assert subject_dn(x509.load_pem_x509_certificate(cert_pem.encode())) == canonical
    assert parse_dn(written) == parse_dn(canonical)


@pytest.mark.parametrize(
    ("left", "right", "same"),
    [
        ("CN=tpp-1,O=Example TPP", "CN=tpp-1,O=Example TPP", True),
        ("CN=tpp-1,O=Example TPP", "cn=tpp-1, o=Example TPP", True),
        ("CN=tpp-1,O=Example TPP", "CN=TPP-1,O=example  tpp", True),
        ("CN=tpp-1+UID=7,O=Example", "UID=7+CN=tpp-1,O=Example", True),
        (OP_DN, "CN=tpp-1,2.5.4.97=psdfi-finfsa-29884997,O=Example TPP Oy,C=fi", True),
        ("CN=tpp-1,O=Example TPP", "O=Example TPP,CN=tpp-1", False),
        ("CN=tpp-1,O=Example TPP", "CN=tpp-2,O=Example TPP", False),
        ("CN=tpp-1,O=Example TPP", "CN=tpp-1,O=Example TPP,C=FI", False),
        ("CN=tpp-1+UID=7", "CN=tpp-1,UID=7", False),
    ],
)
def test_dns_match_as_rfc4517_distinguished_name_match(left: str, right: str, same: bool) -> None:
    assert match_dn(left, right) is same
    assert match_dn(parse_dn(right), left) is same


def test_dn_matches_the_subject_of_a_certificate(tmp_path: Path) -> None:
    cert_pem, _ = issue_client_certificate(ensure_ca(tmp_path), OP_DN)
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    assert match_dn("cn=tpp-1, organizationidentifier=PSDFI-FINFSA-29884997, o=Example TPP Oy, c=FI", cert.subject)


def test_x5t_s256_is_unpadded_base64url_of_sha256() -> None:
    assert x5t_s256(b"") == "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"  # SHA-256 of nothing
    assert x5t_s256(b"\xfb\xff") == base64.urlsafe_b64encode(hashlib.sha256(b"\xfb\xff").digest()).decode()[:-1]


# -- certificates forwarded by a proxy ----------------------------------------------------------


@pytest.fixture(scope="module")
def client_pem(tmp_path_factory: pytest.TempPathFactory) -> str:
    return issue_client_certificate(ensure_ca(tmp_path_factory.mktemp("tls")), "CN=tpp-1,O=Example TPP")[0]


def one_line(pem: str) -> str:
    return pem.replace("\n", "")


def bare(pem: str) -> str:
    return "".join(line for line in pem.splitlines() if "CERTIFICATE" not in line)


@pytest.mark.parametrize(
    "encode",
    [one_line, bare, quote, quote_plus, lambda pem: pem, lambda pem: pem.replace("\n", " "), lambda pem: pem + pem],
    ids=["one-line-pem", "bare-base64-der", "url-encoded-pem", "form-encoded-pem", "pem", "blanks", "chain"],
)
def test_forwarded_certificate_is_read_in_every_form(client_pem: str, encode) -> None:
    forwarded = parse_forwarded_certificate(encode(client_pem))
    direct = ClientCertificate.from_pem(client_pem)
    assert forwarded == direct
    assert forwarded.subject_dn == "CN=tpp-1,O=Example TPP"
    assert forwarded.x5t_s256 == x5t_s256(x509.load_pem_x509_certificate(client_pem.encode()).public_bytes(
        serialization.Encoding.DER))


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage",
        "-----BEGIN CERTIFICATE-----QUJD-----END CERTIFICATE-----",
        base64.b64encode(os.urandom(300)).decode(),
        "%ZZ%00",
        "-----BEGIN CERTIFICATE-----MIIB",
        "-----BEGIN PUBLIC KEY-----MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE-----END PUBLIC KEY-----",
        "MIIB\u00e9",
    ],
)
def test_a_forwarded_header_without_a_certificate_is_a_clear_error(value: str) -> None:
    with pytest.raises(ForwardedCertificateError, match="holds no certificate") as caught:
        parse_forwarded_certificate(value)
    assert isinstance(caught.value, ValueError)
