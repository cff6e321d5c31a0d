"""Distinguished names as RFC 4514 strings (DESIGN §7, RFC 8705 §2.1.2 ``tls_client_auth_subject_dn``).

``parse_dn`` reads a string such as ``CN=tpp-1,O=Example TPP``; ``subject_dn`` writes a
certificate's subject the same way; ``match_dn`` compares two as RFC 4517 §4.2.15
distinguishedNameMatch does for the string attributes TLS certificates carry. Besides the
RFC 4514 short names, the attribute names of OP's and other eIDAS certificates
(``organizationIdentifier``, ``serialNumber``...) are read and written.
"""

from __future__ import annotations

from collections.abc import Mapping

from cryptography import x509
from cryptography.x509.oid import NameOID, ObjectIdentifier

__all__ = ["DistinguishedNameError", "match_dn", "parse_dn", "subject_dn"]

# RFC 4514 §3 names only CN, L, ST, O, OU, C, STREET, DC and UID; OP's and other eIDAS
# certificates also carry these (ETSI EN 319 412-1). Any other attribute is a dotted OID.
_ATTRIBUTE_NAMES: Mapping[ObjectIdentifier, str] = {
    NameOID.ORGANIZATION_IDENTIFIER: "organizationIdentifier",
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.EMAIL_ADDRESS: "emailAddress",
    NameOID.GIVEN_NAME: "givenName",
    NameOID.SURNAME: "SN",
    NameOID.TITLE: "title",
    NameOID.BUSINESS_CATEGORY: "businessCategory",
    NameOID.JURISDICTION_COUNTRY_NAME: "jurisdictionC",
}
_ATTRIBUTE_OIDS: Mapping[str, ObjectIdentifier] = {name: oid for oid, name in _ATTRIBUTE_NAMES.items()}


class DistinguishedNameError(ValueError):
    """A string that is not an RFC 4514 distinguished name."""


def subject_dn(cert: x509.Certificate) -> str:
    """The subject as an RFC 4514 string, e.g. ``CN=tpp-1,organizationIdentifier=PSDFI-FINFSA-29884997,C=FI``."""
    return cert.subject.rfc4514_string(_ATTRIBUTE_NAMES)


def parse_dn(value: str) -> x509.Name:
    """Parse an RFC 4514 DN (``CN=tpp-1,O=Example TPP``); blanks around ``,`` ``+`` ``=`` are allowed.

    Attribute types are case-insensitive and include ``organizationIdentifier``,
    ``serialNumber``, ``emailAddress`` and dotted OIDs. Raises ``DistinguishedNameError``.
    """
    if not isinstance(value, str) or not value.strip():
        raise DistinguishedNameError("a distinguished name must not be empty (like CN=tpp-1,O=Example TPP)")
    try:
        name = x509.Name.from_rfc4514_string(_strip_separator_blanks(value), _ATTRIBUTE_OIDS)
        name.public_bytes()  # a value its attribute cannot hold (emailAddress is IA5: ASCII) fails only here
    except ValueError as exc:  # cryptography's parser mostly raises a bare ValueError
        reason = f" ({exc})" if str(exc) else ""
        shown = value if len(value) <= 80 else value[:77] + "..."
        raise DistinguishedNameError(
            f"{shown!r} is not an RFC 4514 distinguished name such as CN=tpp-1,O=Example TPP{reason}"
        ) from None
    return name


def match_dn(expected: str | x509.Name, actual: str | x509.Name) -> bool:
    """RFC 4517 §4.2.15 distinguishedNameMatch, for string attributes.

    The RDNs match in order, the attributes of a multi-valued RDN in any order, and values as
    caseIgnoreMatch does (case and runs of blanks do not count). A string is parsed with
    ``parse_dn`` and may raise ``DistinguishedNameError``.
    """
    return _dn_key(expected) == _dn_key(actual)


def _strip_separator_blanks(value: str) -> str:
    """Drop unescaped blanks around ``,``, ``+`` and the ``=`` after each attribute type.

    RFC 4514 has none there, but people write ``CN=tpp-1, O=Example TPP``. A blank that
    belongs to a value is escaped (``\\ ``) at the value's ends, and kept inside it.
    """
    out: list[str] = []
    start = 0  # where the current attribute type or value begins in ``out``
    keep = 0  # out[:keep] keeps its trailing blanks (an escape or the "=" ends there)
    in_value = False
    chars = iter(value)
    for char in chars:
        if char == "\\":
            out += [char, next(chars, "")]
            keep = len(out)
        elif char.isspace() and len(out) == start:
            continue  # leading blank of a type or value
        elif not in_value and char == "=":
            _drop_trailing_blanks(out, keep)
            out.append(char)
            start = keep = len(out)
            in_value = True
        elif in_value and char in ",+":
            _drop_trailing_blanks(out, keep)
            out.append(char)
            start = keep = len(out)
            in_value = False
        else:
            out.append(char)
    _drop_trailing_blanks(out, keep)
    return "".join(out)


def _drop_trailing_blanks(out: list[str], keep: int) -> None:
    while len(out) > keep and out[-1].isspace():
        out.pop()


def _dn_key(dn: str | x509.Name) -> tuple[frozenset[tuple[str, object]], ...]:
    name = parse_dn(dn) if isinstance(dn, str) else dn
    return tuple(
        frozenset((attribute.oid.dotted_string, _fold(attribute.value)) for attribute in rdn) for rdn in name.rdns
    )


def _fold(value: str | bytes) -> str | bytes:
    return " ".join(value.split()).casefold() if isinstance(value, str) else value
