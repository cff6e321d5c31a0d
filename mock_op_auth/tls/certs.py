"""Certificates for HTTPS and mutual TLS (DESIGN §7), built with ``cryptography`` alone.

- The TLS directory (``default_tls_dir()``, or one given) holds a local CA (``ca.crt``,
  ``ca.key``) and a server certificate it signed (``server.crt``, ``server.key``). Both are
  made on first use and reused; the server certificate is issued again when it no longer
  names every host, nears its end, or was signed by another CA. Keys are created mode 0600,
  a new directory 0700; every file is written to a temporary name and moved into place, under
  an advisory lock on ``DIR/.lock``, so two processes starting at once agree on one CA.
- ``issue_client_certificate`` signs a client certificate (``clientAuth``) for an RFC 4514
  subject, as OP's sandbox certificate generator does (op-auth.md §1.2).
- ``ClientCertificate`` is a presented certificate as the mock uses it, with RFC 8705 §3.1's
  thumbprint (``x5t_s256``) and its RFC 4514 subject (``names``);
  ``parse_forwarded_certificate`` reads one from a TLS-terminating proxy's header.

Keys are ECDSA P-256 signed with SHA-256: a key takes well under a millisecond to generate
(RSA-2048 takes tens to hundreds), and every TLS 1.2/1.3 stack accepts it (RFC 8446 §9.1
makes ecdsa_secp256r1_sha256 mandatory to implement). A CA placed in the directory by hand
may also be RSA.

Certificates follow the real clock, not the mock's ``Clock``: TLS peers check them against
theirs. Functions that make certificates take ``now`` for tests.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import ipaddress
import os
import re
import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from mock_op_auth.tls.names import parse_dn, subject_dn

try:
    from fcntl import LOCK_EX, flock
except ImportError:  # pragma: no cover - Windows: no advisory lock; writes stay atomic
    flock = None

__all__ = [
    "CA_CERT",
    "CA_KEY",
    "SERVER_CERT",
    "SERVER_KEY",
    "CertificateAuthority",
    "ClientCertificate",
    "ForwardedCertificateError",
    "ServerCertificate",
    "TlsFileError",
    "default_tls_dir",
    "ensure_ca",
    "ensure_server_cert",
    "issue_client_certificate",
    "parse_forwarded_certificate",
    "write_client_certificate",
    "x5t_s256",
]

CA_CERT = "ca.crt"
CA_KEY = "ca.key"
SERVER_CERT = "server.crt"
SERVER_KEY = "server.key"
DEFAULT_HOSTS = ("localhost", "127.0.0.1", "::1")

CA_LIFETIME = timedelta(days=3650)
LEAF_LIFETIME = timedelta(days=365)  # server and client; within Apple's 825-day limit for servers
RENEW_BEFORE = timedelta(days=30)  # a server certificate with less left is issued again
BACKDATE = timedelta(hours=1)  # not_before in the past, for peers whose clock runs behind

_HOST_RE = re.compile(r"(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*")
_PEM_RE = re.compile(r"-----BEGIN[ +]CERTIFICATE-----(.*?)-----END[ +]CERTIFICATE-----", re.DOTALL)

CaKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


class TlsFileError(Exception):
    """A file of the TLS directory that cannot be read, written or trusted; the message says which and why."""


class ForwardedCertificateError(ValueError):
    """A proxy header value that is not a certificate in any of the accepted forms."""


@dataclass(frozen=True)
class CertificateAuthority:
    """The mock's CA: it signs the server certificate and client certificates, and trusts the latter."""

    cert_file: Path
    key_file: Path
    certificate: x509.Certificate = field(repr=False)
    private_key: CaKey = field(repr=False)

    @property
    def cert_pem(self) -> str:
        """The CA certificate in PEM, as ``GET /_mock/certs/ca`` serves it."""
        return _cert_pem(self.certificate)


@dataclass(frozen=True)
class ServerCertificate:
    """The server certificate's files in the TLS directory, and the CA that signed it."""

    cert_file: Path
    key_file: Path
    ca: CertificateAuthority


@dataclass(frozen=True)
class ClientCertificate:
    """A client certificate as the mock uses it: its DER, PEM, RFC 4514 subject and RFC 8705 thumbprint."""

    der: bytes = field(repr=False)
    pem: str = field(repr=False)
    subject_dn: str
    x5t_s256: str
    certificate: x509.Certificate = field(repr=False, compare=False)

    @classmethod
    def from_der(cls, der: bytes) -> ClientCertificate:
        """Raises ``ValueError`` when ``der`` is not a DER certificate."""
        return cls._of(x509.load_der_x509_certificate(der), der)

    @classmethod
    def from_pem(cls, pem: str) -> ClientCertificate:
        """The first certificate of ``pem``; raises ``ValueError`` when there is none."""
        cert = x509.load_pem_x509_certificate(pem.encode("ascii"))
        return cls._of(cert, cert.public_bytes(serialization.Encoding.DER))

    @classmethod
    def _of(cls, cert: x509.Certificate, der: bytes) -> ClientCertificate:
        return cls(der, _cert_pem(cert), subject_dn(cert), x5t_s256(der), cert)


def default_tls_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_STATE_HOME/mock-op-auth/tls``, else ``~/.local/state/mock-op-auth/tls``.

    A relative ``XDG_STATE_HOME`` is ignored, as the XDG Base Directory spec says.
    """
    state_home = (os.environ if environ is None else environ).get("XDG_STATE_HOME", "")
    base = Path(state_home) if os.path.isabs(state_home) else Path.home() / ".local" / "state"
    return base / "mock-op-auth" / "tls"


def ensure_ca(tls_dir: str | os.PathLike[str] | None = None, *, now: datetime | None = None) -> CertificateAuthority:
    """The CA of ``tls_dir`` (default: ``default_tls_dir()``), made there on first use.

    Raises ``TlsFileError`` when an existing CA cannot be read, has no key, or has expired.
    """
    directory = _directory(tls_dir)
    with _locked(directory):
        return _ensure_ca(directory, _now(now))


def ensure_server_cert(
    tls_dir: str | os.PathLike[str] | None = None,
    hosts: Iterable[str] = (),
    *,
    now: datetime | None = None,
) -> ServerCertificate:
    """The server certificate of ``tls_dir`` for localhost, 127.0.0.1, ::1 and ``hosts``.

    ``hosts`` are DNS names (a wildcard ``*.`` allowed) or IP addresses (IPv6 with or without
    brackets); blanks are skipped. The certificate on disk is kept while it names all of them,
    has more than 30 days left and was signed by the current CA; otherwise a new one is issued.
    Raises ``ValueError`` for a host that is neither, ``TlsFileError`` as ``ensure_ca`` does.
    """
    names = _server_names(hosts)
    moment = _now(now)
    directory = _directory(tls_dir)
    with _locked(directory):
        ca = _ensure_ca(directory, moment)
        cert_file, key_file = directory / SERVER_CERT, directory / SERVER_KEY
        if not _is_server_cert_usable(ca, cert_file, key_file, names, moment):
            key = ec.generate_private_key(ec.SECP256R1())
            subject = x509.Name([
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mock-op-auth"),
                x509.NameAttribute(NameOID.COMMON_NAME, "mock-op-auth server"),
            ])
            cert = _issue(ca, subject, key, ExtendedKeyUsageOID.SERVER_AUTH, moment, LEAF_LIFETIME, names)
            _write_pair(key_file, key, cert_file, cert)
    return ServerCertificate(cert_file, key_file, ca)


def issue_client_certificate(
    ca: CertificateAuthority,
    subject: str,
    *,
    lifetime: timedelta = LEAF_LIFETIME,
    now: datetime | None = None,
) -> tuple[str, str]:
    """A new key and a ``clientAuth`` certificate for RFC 4514 ``subject``: ``(cert_pem, key_pem)``.

    The key is unencrypted PKCS#8 PEM. The certificate never outlives the CA. Raises
    ``DistinguishedNameError`` when ``subject`` is not a DN.
    """
    name = parse_dn(subject)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _issue(ca, name, key, ExtendedKeyUsageOID.CLIENT_AUTH, _now(now), lifetime)
    return _cert_pem(cert), _key_pem(key).decode("ascii")


def write_client_certificate(
    ca: CertificateAuthority, subject: str, out_dir: str | os.PathLike[str]
) -> tuple[Path, Path]:
    """Issue a client certificate and write ``<name>.crt`` and ``<name>.key`` (0600) to ``out_dir``.

    ``<name>`` is the subject's CN made safe for a file name; without a CN that leaves a name,
    ``client-`` and a digest of the subject, so two such subjects never share files. An earlier
    pair of that name (the same CN) is replaced. Returns ``(cert_file, key_file)``.
    """
    cert_pem, key_pem = issue_client_certificate(ca, subject)
    name = parse_dn(subject)
    common_names = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", str(common_names[0].value)).strip("-.") if common_names else ""
    if not stem:
        stem = f"client-{hashlib.sha256(name.public_bytes()).hexdigest()[:12]}"
    directory = _directory(out_dir)
    cert_file, key_file = directory / f"{stem}.crt", directory / f"{stem}.key"
    _write(key_file, key_pem.encode("ascii"), 0o600)
    _write(cert_file, cert_pem.encode("ascii"), 0o644)
    return cert_file, key_file


def x5t_s256(cert_der: bytes) -> str:
    """RFC 8705 §3.1: base64url (no padding) of the SHA-256 of the certificate's DER."""
    return base64.urlsafe_b64encode(hashlib.sha256(cert_der).digest()).rstrip(b"=").decode("ascii")


def parse_forwarded_certificate(value: str) -> ClientCertificate:
    """The certificate in a TLS-terminating proxy's header (DESIGN §7, e.g. ``x-client-certificate``).

    Accepted: PEM with its BEGIN/END lines and the line breaks removed (or kept, or turned
    into blanks), bare base64 DER (PEM without its BEGIN/END lines), and URL-encoded PEM.
    With a chain, the first certificate. Raises ``ForwardedCertificateError``.
    """
    text = value.strip()
    if "%" in text:  # never in base64 or PEM: the value is URL-encoded
        text = unquote(text)
    pem = _PEM_RE.search(text)
    body = "".join((pem.group(1) if pem else text).split())
    try:
        return ClientCertificate.from_der(base64.b64decode(body, validate=True))
    except ValueError:  # binascii.Error is one
        raise ForwardedCertificateError(
            "the client certificate header holds no certificate (expected PEM, base64 DER or URL-encoded PEM)"
        ) from None


# -- the TLS directory --------------------------------------------------------------------------


def _ensure_ca(directory: Path, now: datetime) -> CertificateAuthority:
    cert_file, key_file = directory / CA_CERT, directory / CA_KEY
    if not cert_file.exists():  # a lone ca.key is what a crash while creating leaves
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _new_ca_certificate(key, now)
        _write_pair(key_file, key, cert_file, cert)
        return CertificateAuthority(cert_file, key_file, cert, key)
    fix = f"delete {cert_file} and {key_file} to have a new CA made (clients must then trust the new {CA_CERT})"
    if not key_file.exists():
        raise TlsFileError(f"{cert_file} has no {CA_KEY} beside it: {fix}")
    cert, key = _load_cert(cert_file, fix), _load_key(key_file, fix)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise TlsFileError(f"{key_file} is neither an EC nor an RSA key: {fix}")
    if key.public_key() != cert.public_key():
        raise TlsFileError(f"{key_file} is not the key of {cert_file}: {fix}")
    if cert.not_valid_after_utc <= now:
        raise TlsFileError(f"{cert_file} expired on {cert.not_valid_after_utc:%Y-%m-%d}: {fix}")
    return CertificateAuthority(cert_file, key_file, cert, key)


def _is_server_cert_usable(
    ca: CertificateAuthority, cert_file: Path, key_file: Path, names: list[x509.GeneralName], now: datetime
) -> bool:
    if not (cert_file.exists() and key_file.exists()):
        return False
    fix = f"delete {cert_file} and {key_file} to have a new server certificate made"
    cert, key = _load_cert(cert_file, fix), _load_key(key_file, fix)
    if key.public_key() != cert.public_key():  # a crash between writing the new key and its certificate
        return False
    try:
        present = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        cert.verify_directly_issued_by(ca.certificate)
    except (x509.ExtensionNotFound, ValueError, TypeError, InvalidSignature):
        return False
    return (
        set(names) <= set(present)
        and cert.not_valid_before_utc <= now
        and cert.not_valid_after_utc - now > RENEW_BEFORE
    )


def _new_ca_certificate(key: ec.EllipticCurvePrivateKey, now: datetime) -> x509.Certificate:
    # A random suffix keeps two CAs apart by name, so a client holding the wrong ca.crt reads
    # "unable to get local issuer certificate" rather than a bad signature.
    name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mock-op-auth"),
        x509.NameAttribute(NameOID.COMMON_NAME, f"mock-op-auth local CA {secrets.token_hex(4)}"),
    ])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(digital_signature=True, key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )


def _issue(
    ca: CertificateAuthority,
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    usage: ObjectIdentifier,
    now: datetime,
    lifetime: timedelta,
    names: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    """An end-entity certificate signed by ``ca``, with what strict verifiers (OpenSSL's X509_STRICT) want."""
    try:
        ca_key_id = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        authority_key_id = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_key_id)
    except x509.ExtensionNotFound:
        authority_key_id = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.private_key.public_key())
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(min(now + lifetime, ca.certificate.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(authority_key_id, critical=False)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca.private_key, hashes.SHA256())


def _key_usage(
    *, digital_signature: bool = False, key_cert_sign: bool = False, crl_sign: bool = False
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=key_cert_sign, crl_sign=crl_sign,
        encipher_only=False, decipher_only=False,
    )


def _server_names(hosts: Iterable[str]) -> list[x509.GeneralName]:
    names = (_general_name(host) for host in (*DEFAULT_HOSTS, *hosts))
    return list(dict.fromkeys(name for name in names if name is not None))


def _general_name(host: str) -> x509.GeneralName | None:
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if not text:
        return None
    with contextlib.suppress(ValueError):
        return x509.IPAddress(ipaddress.ip_address(text))
    try:
        name = text.rstrip(".").lower().encode("idna").decode("ascii")
    except UnicodeError:
        name = ""
    if not _HOST_RE.fullmatch(name):
        raise ValueError(f"not a host name or IP address: {host!r}")
    return x509.DNSName(name)


def _directory(path: str | os.PathLike[str] | None) -> Path:
    directory = default_tls_dir() if path is None else Path(path).expanduser()
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)  # 0700 only when made here
    except OSError as exc:
        raise TlsFileError(f"cannot create {directory}: {exc.strerror}") from None
    return directory


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``directory/.lock`` (one process at a time makes files)."""
    if flock is None:  # pragma: no cover
        yield
        return
    try:
        fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:  # a read-only directory: files there can be read, and writing one says why it cannot
        yield
        return
    try:
        flock(fd, LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _write_pair(key_file: Path, key: ec.EllipticCurvePrivateKey, cert_file: Path, cert: x509.Certificate) -> None:
    """Key first: a crash in between leaves a key that matches no certificate, which is made again."""
    _write(key_file, _key_pem(key), 0o600)
    _write(cert_file, _cert_pem(cert).encode("ascii"), 0o644)


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to a new file of ``mode`` beside ``path``, then rename it over ``path``."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise TlsFileError(f"cannot write {path}: {exc.strerror}") from None


def _load_cert(path: Path, fix: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except OSError as exc:
        raise TlsFileError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError:
        raise TlsFileError(f"{path} is not a PEM certificate: {fix}") from None


def _load_key(path: Path, fix: str) -> PrivateKeyTypes:
    try:
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise TlsFileError(f"cannot read {path}: {exc.strerror}") from None
    except TypeError:
        raise TlsFileError(f"{path} is encrypted; mock-op-auth needs it without a password: {fix}") from None
    except (ValueError, UnsupportedAlgorithm):
        raise TlsFileError(f"{path} is not a PEM private key: {fix}") from None


def _cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _now(now: datetime | None) -> datetime:
    return datetime.now(UTC) if now is None else now
