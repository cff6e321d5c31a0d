"""PIS message signing (op-auth.md §4.3; RFC 7515 Appendix F, RFC 7797): a create request carries
``x-jws-signature``, a detached JWS over its exact body by a key of the TPP's JWKS; every PIS
response carries one by the mock's own PIS key, published at ``/psd2/sandbox/jwks/payments/jwks.json``
(a key of its own, not the ID-token key, kept in ``--state`` like the signing keys)."""

from __future__ import annotations

from typing import Any

from mock_op_auth.config.schema import Client
from mock_op_auth.errors import InvalidSignatureError, InvalidTokenError
from mock_op_auth.oauth.request import Call
from mock_op_auth.state.keys import SigningKey, sign_detached, verify_detached

SIGNATURE_HEADER = "x-jws-signature"


def verify_request_signature(call: Call, client: Client) -> None:
    """The body verifies under ``x-jws-signature`` with a key of ``client``'s JWKS."""
    signature = call.header(SIGNATURE_HEADER)
    if not signature:
        raise InvalidSignatureError("x-jws-signature is required: a detached JWS over the body", SIGNATURE_HEADER)
    if not client.jwks:
        raise InvalidSignatureError("the client has no registered keys to verify x-jws-signature with",
                                    SIGNATURE_HEADER)
    try:
        verify_detached(signature, call.body, client.jwks)
    except InvalidTokenError as err:
        raise InvalidSignatureError(f"x-jws-signature does not verify over the body: {err.description}",
                                    SIGNATURE_HEADER) from None


class ResponseSigner:
    """Signs PIS response bodies with the PIS key; its JWKS is what TPPs verify them with."""

    def __init__(self, key: SigningKey) -> None:
        self.key = key

    def sign(self, body: bytes) -> str:
        return sign_detached(body, self.key)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.key.public_jwk]}
