"""Pushed authorization requests (RFC 9126): the client posts its authorization request to
``/par`` over the back channel, authenticated as at the token endpoint, and gets a single-use
``request_uri`` to send the user to ``/authorize`` with.

The pushed parameters are checked now as ``/authorize`` would check them (errors answer as JSON,
never as a redirect) and again when the ``request_uri`` is used, against the fixture then in force.
A DPoP proof sent with the push binds the code to its key, as ``dpop_jkt`` would (RFC 9449 §10.1).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from mock_op_auth.errors import InvalidDpopProofError, InvalidRequestError
from mock_op_auth.oauth.authorize import AuthorizeRequest, AuthorizeService
from mock_op_auth.oauth.clients import authenticate
from mock_op_auth.oauth.context import Env
from mock_op_auth.oauth.dpop import DpopVerifier
from mock_op_auth.oauth.request import FORM_TYPE, Call
from mock_op_auth.state.clock import Clock
from mock_op_auth.state.store import PushedRequest, Store

REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"
CLIENT_AUTH_PARAMS = ("client_secret", "client_assertion", "client_assertion_type")
MAX_PUSHED_CHARS = 8192  # what one pushed request may keep in the store (thousands may wait at once)


@dataclass(frozen=True)
class PushRequest:
    """A checked pushed request: what ``/authorize`` will see, and the parameters to keep."""

    request: AuthorizeRequest
    params: dict[str, str]


class ParService:
    def __init__(self, store: Store, clock: Clock, authorizer: AuthorizeService, dpop: DpopVerifier) -> None:
        self.store = store
        self.clock = clock
        self.authorizer = authorizer
        self.dpop = dpop

    def check(self, call: Call, env: Env) -> PushRequest:
        """Authenticate the client and check its authorization request (RFC 9126 §2.1)."""
        if call.method != "POST" or call.content_type != FORM_TYPE:
            raise InvalidRequestError("push the request as an application/x-www-form-urlencoded POST")
        client = authenticate(call, env.config.clients)
        params = call.form_dict()
        if "request_uri" in params:
            raise InvalidRequestError("request_uri may not be pushed (RFC 9126 §2.1)")
        for name in CLIENT_AUTH_PARAMS:
            params.pop(name, None)
        params["client_id"] = client.client_id
        if sum(len(k) + len(v) for k, v in params.items()) > MAX_PUSHED_CHARS:
            raise InvalidRequestError(f"the pushed request is longer than {MAX_PUSHED_CHARS} characters")
        proof = call.header("dpop")
        if proof is not None and env.server_config.dpop:
            jkt = self.dpop.verify(proof, method=call.method, uri=call.issuer + call.path,
                                   nonce_required=env.server_config.dpop_nonce).jkt
            if params.setdefault("dpop_jkt", jkt) != jkt:
                raise InvalidDpopProofError("dpop_jkt is not the thumbprint of the DPoP proof's key")
        return PushRequest(self.authorizer.check_params(params, env, pushed=True), params)

    def push(self, req: PushRequest, env: Env) -> dict[str, object]:
        """Keep the request for ``server.par_ttl`` seconds under a fresh ``request_uri`` (RFC 9126 §2.2)."""
        ttl = env.server_config.par_ttl
        pushed = PushedRequest(REQUEST_URI_PREFIX + secrets.token_urlsafe(32), req.request.client_id, req.params,
                               self.clock.now() + ttl)
        self.store.put_pushed(pushed)
        return {"request_uri": pushed.request_uri, "expires_in": ttl}
