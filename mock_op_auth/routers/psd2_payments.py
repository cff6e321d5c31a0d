"""OP's PSD2 payment initiation API (PIS; DESIGN §8), its rules in ``op/psd2/payments.py``; the
journal and scenario rules name every call ``payments``:

- POST /payments-psd2/v1/sepa-payments, /foreign-payments: create (``x-jws-signature``, ``x-idempotency-key``)
- GET, DELETE .../{paymentId}: read; revoke (Unauthorized) or cancel (Authorized, with the PSU's token)
- PUT .../{paymentId}/submissions/{submissionId}: submit an Authorized payment with the PSU's token
- GET /payments-psd2/v1/authorizations/{authorizationId}[/payments]: a bundle and its payments
- GET /psd2/sandbox/jwks/payments/jwks.json: the key of every PIS response's ``x-jws-signature``

A payment is found by its id on either path (OP's demo TPP submits foreign payments on the SEPA
path). Every answer of these handlers, errors too, is signed in ``x-jws-signature``.
"""

from __future__ import annotations

from typing import Any, Literal

from starlette.responses import Response

from mock_op_auth.config.schema import TokenAction
from mock_op_auth.dialects import DIALECTS
from mock_op_auth.dialects.psd2 import business_error
from mock_op_auth.dialects.responses import NO_STORE, json_response
from mock_op_auth.errors import InvalidRequestError, OAuthError, ViolationError
from mock_op_auth.http.runner import BaseHandler, Facts
from mock_op_auth.oauth.context import Env
from mock_op_auth.oauth.request import Call
from mock_op_auth.op.psd2.access import Caller
from mock_op_auth.op.psd2.jws import SIGNATURE_HEADER, verify_request_signature
from mock_op_auth.op.psd2.payments import (
    Creator,
    NewPayment,
    Submission,
    check_sandbox_scenario,
    psu_of,
    require_psu,
)
from mock_op_auth.server import Server
from mock_op_auth.state.store import Intent, Payment

PIS = "/payments-psd2/v1"
PIS_JWKS = "/psd2/sandbox/jwks/payments/jwks.json"


def pis_caller(server: Server, call: Call, env: Env) -> Caller:
    return server.psd2.access.caller(call, env, server.issuers(env.issuer), server.audiences(env.issuer), "payments")


def facts_of(caller: Caller) -> Facts:
    return Facts(caller.client_id, None, caller.token.scope, caller.user)


def json_body(call: Call) -> Any:
    """The body as JSON, whatever its Content-Type (OP's demo TPP sends ``text/plain``)."""
    try:
        return call.json()
    except InvalidRequestError as err:
        raise ViolationError("TypeMismatch", err.description) from None


class PisHandler(BaseHandler[Any]):
    """What every PIS handler shares: endpoint ``payments``, OP's error shapes, signed answers."""

    endpoint = "payments"
    dialect = DIALECTS["psd2"]

    def render_error(self, err: OAuthError, issuer: str) -> Response:
        return business_error(err)

    def finish(self, server: Server, response: Response) -> Response:
        response.headers[SIGNATURE_HEADER] = server.psd2.signer.sign(bytes(response.body))
        return response


class CreatePaymentHandler(PisHandler):
    def __init__(self, kind: Literal["sepa", "foreign"]) -> None:
        self.kind = kind

    def check(self, server: Server, call: Call, env: Env) -> tuple[Facts, NewPayment]:
        caller = pis_caller(server, call, env)
        client = env.config.clients[caller.client_id]
        verify_request_signature(call, client)
        psu = caller.intent is not None  # a PSU's token (the exemption flow creates with one)
        creator = Creator(caller.client_id, caller.token.subject if psu else None, caller.user)
        new = server.psd2.payments.check_create(self.kind, creator, json_body(call), call.header("x-idempotency-key"),
                                                env.server_config.psd2)
        return facts_of(caller), new

    def act(self, server: Server, checked: NewPayment, env: Env, override: TokenAction | None) -> Response:
        payments = server.psd2.payments
        payment = payments.create(checked, env.server_config.psd2)
        bundle = server.psd2.intents.current(payment.authorization_id) or checked.bundle
        return json_response(payments.body(payment, bundle), 200 if checked.replay else 201, NO_STORE)


class PaymentHandler(PisHandler):
    """GET a payment; DELETE it: Revoked (Unauthorized) or, with the PSU's token, Cancelled."""

    def __init__(self, action: Literal["get", "delete"]) -> None:
        self.action = action

    def check(self, server: Server, call: Call, env: Env) -> tuple[Facts, tuple[Payment, Intent, str | None]]:
        caller = pis_caller(server, call, env)
        payments = server.psd2.payments
        payment, bundle = payments.get(call.path_params.get("payment_id", ""), caller.client_id)
        state = payments.check_delete(payment, bundle, psu_of(caller.intent, bundle)) \
            if self.action == "delete" else None
        return facts_of(caller), (payment, bundle, state)

    def act(self, server: Server, checked: tuple[Payment, Intent, str | None], env: Env,
            override: TokenAction | None) -> Response:
        payment, bundle, state = checked
        payments = server.psd2.payments
        if state is not None:
            payment = payments.delete(payment, state, env.server_config.psd2)
        return json_response(payments.body(payment, bundle), headers=NO_STORE)


class SubmitHandler(PisHandler):
    """PUT .../submissions/{submissionId}: 201 when executed (Accepted, then Debited by the clock),
    202 when SubmissionPending, 200 when the same submission id asks again."""

    def check(self, server: Server, call: Call, env: Env) -> tuple[Facts, tuple[Submission, str | None]]:
        caller = pis_caller(server, call, env)
        payments = server.psd2.payments
        payment, bundle = payments.get(call.path_params.get("payment_id", ""), caller.client_id)
        require_psu(caller.intent, bundle)
        submission = payments.check_submit(payment, bundle, call.path_params.get("submission_id", ""))
        return facts_of(caller), (submission, check_sandbox_scenario(call.header("x-sandbox-scenario")))

    def act(self, server: Server, checked: tuple[Submission, str | None], env: Env,
            override: TokenAction | None) -> Response:
        submission, sandbox = checked
        payments = server.psd2.payments
        done = payments.submit(submission, env.server_config.psd2, override.status if override else None, sandbox)
        bundle = server.psd2.intents.current(done.authorization_id) or submission.bundle
        status = 200 if submission.replay else 202 if done.state == "SubmissionPending" else 201
        return json_response(payments.submission_body(done, bundle), status, NO_STORE)


class BundleHandler(PisHandler):
    """GET a bundle (``?include=payments`` adds them), or its payments (``/payments``)."""

    def __init__(self, action: Literal["get", "payments"]) -> None:
        self.action = action

    def check(self, server: Server, call: Call, env: Env) -> tuple[Facts, tuple[Intent, bool]]:
        caller = pis_caller(server, call, env)
        bundle = server.psd2.payments.bundle(call.path_params.get("authorization_id", ""), caller.client_id)
        return facts_of(caller), (bundle, call.query_param("include") == "payments")

    def act(self, server: Server, checked: tuple[Intent, bool], env: Env, override: TokenAction | None) -> Response:
        bundle, include = checked
        payments = server.psd2.payments
        if self.action == "get":
            return json_response(payments.bundle_body(bundle, include), headers=NO_STORE)
        return json_response({"payments": [payments.body(p, bundle) for p in payments.payments_of(bundle)]},
                             headers=NO_STORE)


def pis_jwks_document(server: Server, issuer: str) -> dict[str, Any]:
    return server.psd2.signer.jwks()
