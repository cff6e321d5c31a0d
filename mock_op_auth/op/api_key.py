"""OP's ``x-api-key`` header (op-auth.md §2, §4): the API key of the application (client) behind
a request. Apigee paths, the PSD2 token path, intents, registration and ``api_key`` resources
all check it here."""

from __future__ import annotations

from collections.abc import Iterable

from mock_op_auth.config.schema import Client
from mock_op_auth.errors import InvalidApiKeyError, MissingApiKeyError
from mock_op_auth.oauth.clients import secrets_equal
from mock_op_auth.oauth.request import Call


def given_api_key(call: Call) -> str:
    """The request's ``x-api-key``; MissingApiKeyError when there is none."""
    given = call.header("x-api-key")
    if not given:
        raise MissingApiKeyError()
    return given


def check_api_key(given: str, client: Client | None, description: str | None = None) -> None:
    """``given`` must be ``client``'s API key (constant-time); InvalidApiKeyError otherwise."""
    expected = client.api_key if client is not None else None
    if not expected or not secrets_equal(given, expected):
        raise InvalidApiKeyError(description) if description else InvalidApiKeyError()


def require_api_key(call: Call, client: Client | None) -> None:
    """The request carries ``client``'s API key."""
    check_api_key(given_api_key(call), client)


def is_known_api_key(given: str, clients: Iterable[Client]) -> bool:
    """Whether ``given`` is the API key of any of ``clients`` (registration is called by a known app)."""
    return any(c.api_key and secrets_equal(given, c.api_key) for c in clients)
