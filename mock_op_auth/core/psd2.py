"""OP's PSD2 profile (op-auth.md §4): intents (AIS ``authorizations``) and the authorization
request with a signed request object (OIDC Core §6.1, FAPI / Open Banking UK).

The authorize flow reuses ``AuthorizeService`` for redirect-URI trust, users and codes; this
module adds what PSD2 needs on top: the request object verified against the client's JWKS,
the ``authorizationId`` intent that must be ``Unauthorized``, the hybrid ``code id_token``
response with ``c_hash``/``s_hash``, and the intent's status changes. Revoking an intent
revokes every grant issued on it, so its tokens die at the resource stub, introspection and
refresh alike.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from mock_op_auth.call import Call
from mock_op_auth.clock import Clock
from mock_op_auth.config.schema import Client, Psd2Settings, TokenAction
from mock_op_auth.core import pkce
from mock_op_auth.core.authorize import AuthorizeRequest, AuthorizeService, RedirectResult, known_client
from mock_op_auth.core.grants import parse_scope
from mock_op_auth.core.issuer import Env, Subject, TokenIssuer
from mock_op_auth.errors import (
    InvalidRequestError,
    InvalidScopeError,
    NotFoundError,
    OAuthError,
    Redirect,
    UnauthorizedClientError,
    UnsupportedResponseTypeError,
)
from mock_op_auth.keys import verify_with_jwks
from mock_op_auth.store import Intent, Store

ACR_SCA = "urn:openbanking:psd2:sca"  # strong customer authentication
ACR_CA = "urn:openbanking:psd2:ca"  # the exemption flow (reused authorization)
HYBRID = "code id_token"
RESPONSE_TYPES = ("code", HYBRID)
REQUEST_PARAMS = ("response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "response_mode",
                  "login_hint", "code_challenge", "code_challenge_method")
INTENT_FIELDS = frozenset({"expires", "transactionFrom", "transactionTo"})


class InvalidRequestObjectError(OAuthError):
    """OIDC Core §3.1.2.6: the request object does not verify or its claims are wrong."""

    code = "invalid_request_object"


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: Any, name: str) -> float:
    """An ISO 8601 date or date-time (UTC when no offset is given) as epoch seconds."""
    if not isinstance(value, str):
        raise InvalidRequestError(f"{name} must be an ISO 8601 date-time string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRequestError(f"{name} is not an ISO 8601 date-time: {value[:40]}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def audiences(env: Env) -> frozenset[str]:
    """What ``aud`` a client-signed JWT may name: this issuer or OP's own hosts (``server.psd2.audiences``)."""
    return frozenset(a.rstrip("/") for a in (env.issuer, *env.server.psd2.audiences))


def check_client_jwt(claims: Mapping[str, Any], client_id: str, env: Env, now: float,
                     error: type[OAuthError] = InvalidRequestObjectError) -> None:
    """``iss``/``client_id``, ``aud`` and ``exp`` of a JWT the client signed (request object, assertion)."""
    if claims.get("iss") != client_id:
        raise error("iss must be the client_id")
    if claims.get("client_id", client_id) != client_id:
        raise error("client_id in the JWT does not match the client")
    aud = claims.get("aud")
    named = aud if isinstance(aud, list) else [aud]
    if not any(isinstance(a, str) and a.rstrip("/") in audiences(env) for a in named):
        raise error("aud names neither this issuer nor OP's PSD2 host")
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise error("exp is required")
    if exp <= now:
        raise error("the JWT has expired")
    nbf = claims.get("nbf")
    if isinstance(nbf, int | float) and nbf > now:
        raise error("the JWT is not valid yet")


def requested_intent(claims: Mapping[str, Any]) -> str | None:
    """The ``authorizationId`` a request object or assertion asks for (its ``claims`` member)."""
    requested = claims.get("claims")
    if not isinstance(requested, dict):
        return None
    for member in ("id_token", "userinfo"):
        entry = requested.get(member)
        value = entry.get("authorizationId") if isinstance(entry, dict) else None
        if isinstance(value, dict) and isinstance(value.get("value"), str):
            return value["value"]
    return None


def requested_acr(claims: Mapping[str, Any]) -> str:
    requested = claims.get("claims")
    entry = requested.get("id_token") if isinstance(requested, dict) else None
    acr = entry.get("acr") if isinstance(entry, dict) else None
    values = acr.get("values") if isinstance(acr, dict) else None
    if isinstance(values, list):
        for value in values:
            if value in (ACR_SCA, ACR_CA):
                return value
    return ACR_SCA


class IntentService:
    """PSD2 intents: created Unauthorized, Authorized by the PSU, Rejected, Revoked, or Expired by the clock."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def current(self, intent_id: str) -> Intent | None:
        """The intent as it stands by the mock clock: a live one past ``expires`` is ``Expired``."""
        intent = self.store.get_intent(intent_id)
        if intent is not None and intent.status in ("Unauthorized", "Authorized") \
                and intent.expires_at <= self.clock.now():
            return replace(intent, status="Expired")
        return intent

    def get(self, intent_id: str, client_id: str) -> Intent:
        intent = self.current(intent_id)
        if intent is None or intent.client_id != client_id:
            raise NotFoundError(f"no authorization {intent_id[:64]}")
        return intent

    def new(self, client_id: str, body: Any, settings: Psd2Settings) -> Intent:
        """Check a POST /authorizations body and build the intent (stored by ``put``)."""
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise InvalidRequestError("the body must be a JSON object")
        if unknown := sorted(set(body) - INTENT_FIELDS):
            raise InvalidRequestError(f"unknown fields: {', '.join(unknown)}")
        now = self.clock.now()
        expires = parse_time(body["expires"], "expires") if "expires" in body else now + settings.intent_ttl
        if expires <= now:
            raise InvalidRequestError("expires is in the past")
        if expires > now + settings.intent_ttl:
            raise InvalidRequestError(f"expires is more than {settings.intent_ttl // 86400} days ahead")
        window = {k: body[k] for k in ("transactionFrom", "transactionTo") if k in body}
        for name, value in window.items():
            parse_time(value, name)
        return Intent(id=str(uuid.uuid4()), client_id=client_id, status="Unauthorized", created_at=now,
                      expires_at=expires, transaction_from=window.get("transactionFrom"),
                      transaction_to=window.get("transactionTo"))

    def set_status(self, intent: Intent, status: str, **changes: Any) -> Intent:
        updated = replace(intent, status=status, modified_at=self.clock.now(), **changes)  # type: ignore[arg-type]
        self.store.put_intent(updated)
        return updated

    def revoke(self, intent: Intent) -> Intent:
        """Revoke an intent and every grant issued on it (their access and refresh tokens too)."""
        for grant_id in intent.grant_ids:
            self.store.revoke_grant(grant_id)
        return self.set_status(intent, "Revoked") if intent.status != "Revoked" else intent

    def link_grant(self, intent_id: str, grant_id: str) -> None:
        """Remember a grant issued on an intent, so revoking the intent revokes it."""
        intent = self.store.get_intent(intent_id)
        if intent is not None and grant_id not in intent.grant_ids:
            self.store.put_intent(replace(intent, grant_ids=(*intent.grant_ids, grant_id)))
        if intent is not None and intent.status == "Revoked":
            self.store.revoke_grant(grant_id)


def intent_body(intent: Intent) -> dict[str, Any]:
    """OP's ``Authorization`` object (op-auth.md §4.3)."""
    body: dict[str, Any] = {"authorizationId": intent.id, "created": iso(intent.created_at)}
    if intent.modified_at is not None:
        body["modified"] = iso(intent.modified_at)
    if intent.authorized_at is not None:
        body["authorized"] = iso(intent.authorized_at)
    body["expires"] = iso(intent.expires_at)
    if intent.transaction_from is not None:
        body["transactionFrom"] = intent.transaction_from
    if intent.transaction_to is not None:
        body["transactionTo"] = intent.transaction_to
    body["status"] = intent.status
    return body


@dataclass(frozen=True)
class Psd2AuthorizeRequest:
    base: AuthorizeRequest
    response_type: str
    intent_id: str
    acr: str


class Psd2Authorizer:
    """GET /oauth/authorize: verify the request object, check the intent, answer code (id_token)."""

    def __init__(self, authorizer: AuthorizeService, intents: IntentService, issuer: TokenIssuer,
                 clock: Clock) -> None:
        self.authorizer = authorizer
        self.intents = intents
        self.issuer = issuer
        self.clock = clock

    def request_object(self, call: Call, env: Env) -> tuple[str, Client, dict[str, Any]]:
        """The verified request object and its client; a failure here is shown to the user."""
        query = call.query_dict()
        client_id, client = known_client(query, env)
        raw = query.get("request")
        if not raw:
            raise InvalidRequestError("request (a signed request object) is required")
        if not client.jwks:
            raise InvalidRequestObjectError("the client has no registered keys to verify its request object")
        try:
            claims = verify_with_jwks(raw, client.jwks)
        except OAuthError as err:
            raise InvalidRequestObjectError(f"the request object does not verify: {err.description}") from None
        check_client_jwt(claims, client_id, env, self.clock.now())
        return client_id, client, claims

    def check(self, call: Call, env: Env) -> Psd2AuthorizeRequest:
        client_id, client, claims = self.request_object(call, env)
        params = call.query_dict()
        params.update({k: str(claims[k]) for k in REQUEST_PARAMS if isinstance(claims.get(k), str | int)})
        params["client_id"] = client_id
        response_type = params.get("response_type", "")
        params.setdefault("response_mode", "fragment" if response_type == HYBRID else "query")
        _, redirect, sent = self.authorizer.trusted_redirect(params, env)
        try:
            return self._check(params, claims, env, client, redirect, sent)
        except OAuthError as err:
            err.redirect = redirect
            raise

    def _check(self, params: dict[str, str], claims: dict[str, Any], env: Env, client: Client,
               redirect: Redirect, sent: str | None) -> Psd2AuthorizeRequest:
        response_type = params.get("response_type")
        if not response_type:
            raise InvalidRequestError("response_type is required")
        if response_type not in RESPONSE_TYPES:
            raise UnsupportedResponseTypeError(f"unsupported response_type {response_type}")
        mode = params["response_mode"]
        if mode not in ("query", "fragment") or (response_type == HYBRID and mode != "fragment"):
            raise InvalidRequestError(f"response_mode {mode} cannot carry response_type {response_type}")
        if "authorization_code" not in client.grant_types:
            raise UnauthorizedClientError("this client may not use the authorization_code grant")
        scope = parse_scope(params.get("scope")) or ()
        if unknown := [s for s in scope if s not in client.scopes]:
            raise InvalidScopeError(f"scope not allowed for this client: {' '.join(unknown)}")
        if "openid" not in scope or not {"accounts", "payments"} & set(scope):
            raise InvalidScopeError("scope must be openid with accounts or payments")
        nonce = params.get("nonce")
        if response_type == HYBRID and not nonce:
            raise InvalidRequestError("nonce is required with response_type code id_token")
        intent_id = requested_intent(claims)
        if intent_id is None:
            raise InvalidRequestError("the request object asks for no authorizationId claim")
        intent = self.intents.current(intent_id)
        if intent is None or intent.client_id != params["client_id"]:
            raise InvalidRequestError(f"unknown authorizationId {intent_id[:64]}")
        if intent.status != "Unauthorized":
            raise InvalidRequestError(f"the authorization is {intent.status}, not Unauthorized")
        challenge, method = pkce.check_challenge(params.get("code_challenge"), params.get("code_challenge_method"),
                                                 required=client.require_pkce)
        user, subject = AuthorizeService._user(params.get("login_hint"), env)
        acr = requested_acr(claims)
        base = AuthorizeRequest(params["client_id"], redirect, sent, scope, subject, user, nonce, challenge, method,
                                extra_claims={"authorizationId": intent.id, "acr": acr})
        return Psd2AuthorizeRequest(base, response_type, intent.id, acr)

    def act(self, req: Psd2AuthorizeRequest, env: Env, override: TokenAction | None) -> RedirectResult:
        """Authorize the intent and issue the code (and, hybrid, an ID token with c_hash and s_hash)."""
        intent = self.intents.current(req.intent_id)
        if intent is None or intent.status != "Unauthorized":
            raise InvalidRequestError("the authorization is no longer Unauthorized", redirect=req.base.redirect)
        now = self.clock.now()
        self.intents.set_status(intent, "Authorized", authorized_at=now, subject=req.base.subject,
                               user=req.base.user)
        result = self.authorizer.act(req.base, env, override)
        if req.response_type == HYBRID:
            hashes = {"c_hash": result.params["code"]}
            if req.base.redirect.state is not None:
                hashes["s_hash"] = req.base.redirect.state
            who = Subject(req.base.client_id, req.base.subject, req.base.user, req.base.scope, None, int(now),
                          req.base.extra_claims)
            result.params["id_token"] = self.issuer.id_token(who, issuer=env.issuer, server=env.server,
                                                             user_claims={}, nonce=req.base.nonce, hashes=hashes,
                                                             override=override)
        return result

    def reject(self, intent_id: str) -> None:
        """The PSU said no: the intent is Rejected (OP's status), if it was still waiting."""
        intent = self.intents.current(intent_id)
        if intent is not None and intent.status == "Unauthorized":
            self.intents.set_status(intent, "Rejected")
