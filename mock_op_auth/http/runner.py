"""The one request flow every protocol endpoint goes through (STYLE §2):

    read the call → check (authenticate, validate; stores nothing) → engine.decide
      → delay · respond (raw) · error (in the endpoint's dialect) · or act (with token overrides)
    → render, and record the journal entry either way.

No endpoint skips the engine or the journal, and the engine never branches on an endpoint.
The scenario is the ``X-Mock-Scenario`` header's, else the client's, else the active one; the
client is the one the request claims (HTTP Basic, ``client_id``), and once ``check`` has verified
who it is (the client a bearer token was issued to, say), that one.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from starlette.requests import Request
from starlette.responses import Response

from mock_op_auth.config.schema import ErrorAction, TokenAction
from mock_op_auth.dialects import Dialect
from mock_op_auth.dialects.responses import raw_response
from mock_op_auth.errors import (
    CustomBearerError,
    CustomOAuthError,
    InvalidClientError,
    InvalidRequestError,
    OAuthError,
    Redirect,
    ServerError,
    TemporarilyUnavailableError,
)
from mock_op_auth.http.call import path_of, read_call
from mock_op_auth.oauth.context import Env
from mock_op_auth.oauth.request import Call, decode_basic
from mock_op_auth.scenarios import NO_OUTCOME, Outcome, RequestContext
from mock_op_auth.server import Server
from mock_op_auth.state.journal import mask_headers, mask_params
from mock_op_auth.state.store import StoreUnavailableError

log = logging.getLogger("mock_op_auth")
CLIENT_KEY = "mock_op_auth.client_id"  # ASGI scope key: the client a request was verified to come from


@dataclass(frozen=True)
class Facts:
    """Verified facts of a request that scenario rules match and the journal records."""

    client_id: str | None = None
    grant_type: str | None = None
    scope: tuple[str, ...] = ()
    user: str | None = None
    redirect: Redirect | None = None  # authorize: where a scenario's error goes


T = TypeVar("T")


class Handler(Protocol[T]):
    """One endpoint, as the runner drives it. How to add an endpoint: a handler class (usually a
    ``BaseHandler`` subclass) in ``routers/``, and one line in ``app.ROUTES``.

    ``check`` authenticates and validates the call into the facts scenario rules match and a
    checked request ``T``, storing nothing; ``act`` does the work through the services and
    renders the answer in the handler's dialect (a coroutine when it must wait on the network,
    as logout does for its back-channel calls); ``on_error`` is the one place an error may
    change state (it sees the checked request when ``check`` got that far); ``render_error``
    renders an error and changes nothing; ``finish`` sees every answer the handler made, its
    errors too (a scenario's raw ``respond`` is sent as written): OP's PIS signs them there.
    """

    endpoint: str
    dialect: Dialect

    def check(self, server: Server, call: Call, env: Env) -> tuple[Facts, T]: ...
    def act(self, server: Server, checked: T, env: Env,
            override: TokenAction | None) -> Response | Awaitable[Response]: ...
    def on_error(self, server: Server, checked: T | None, err: OAuthError) -> None: ...
    def render_error(self, err: OAuthError, issuer: str) -> Response: ...
    def finish(self, server: Server, response: Response) -> Response: ...


class BaseHandler(Generic[T]):
    """Defaults for handlers: errors change nothing and look as the dialect says."""

    endpoint: str
    dialect: Dialect

    def on_error(self, server: Server, checked: T | None, err: OAuthError) -> None:
        return None

    def render_error(self, err: OAuthError, issuer: str) -> Response:
        return self.dialect.render_error(err)

    def finish(self, server: Server, response: Response) -> Response:
        return response


def claimed_client_id(call: Call) -> str | None:
    """The client a request says it comes from, before it is authenticated (to pick its scenario)."""
    try:
        basic = call.basic
    except OAuthError:
        basic = None
    if basic is not None:
        return basic.client_id
    for pairs in (call.form, call.query):
        for key, value in pairs:
            if key == "client_id":
                return value
    return None


BEARER_ENDPOINTS = frozenset({"resource", "userinfo"})  # protected resources: RFC 6750 errors


def injected_error(action: ErrorAction, endpoint: str, call: Call, redirect: Redirect | None) -> OAuthError:
    """A scenario's ``error`` action as the endpoint would raise it for real, so that the dialect
    gives it the same shape and headers: an RFC 6750 challenge at a protected resource, and for
    ``invalid_client`` the Basic challenge when the client tried Basic (DESIGN §3)."""
    if endpoint in BEARER_ENDPOINTS:
        return CustomBearerError(action.error, action.error_description, action.status)
    if action.error == "invalid_client":
        tried_basic = decode_basic(call.header("authorization")) is not None  # a Basic header, well-formed or not
        err: OAuthError = InvalidClientError(action.error_description, basic_tried=tried_basic)
        err.status = action.status
        err.redirect = redirect
        return err
    return CustomOAuthError(action.error, action.error_description, action.status, redirect=redirect)


async def run(server: Server, request: Request, handler: Handler[Any]) -> Response:
    """Drive one request through ``handler`` (see the module docstring); never raises."""
    started = time.perf_counter()
    call: Call | None = None
    checked: Any = None
    facts = Facts()
    outcome: Outcome = NO_OUTCOME
    scenario: str | None = None
    issuer = ""
    try:
        call = await read_call(request, server.settings.issuer, server.config.server.client_certificate_header)
        issuer = call.issuer
        server.note_issuer(issuer)
        header = call.header("x-mock-scenario")
        if header and header not in server.config.scenarios:
            raise InvalidRequestError(f"unknown scenario {header} in X-Mock-Scenario")
        claimed = claimed_client_id(call)
        scenario = server.engine.scenario_for(header, claimed)
        env = server.env(issuer, server.engine.server_config(scenario), handler.dialect)
        facts, checked = handler.check(server, call, env)
        if not header and facts.client_id and facts.client_id != claimed:
            # The request named no client (a bearer token, the login form): the one behind it is known now.
            scenario = server.engine.scenario_for(None, facts.client_id)
            env = server.env(issuer, server.engine.server_config(scenario), handler.dialect)
        if not server.engine.quiet(scenario):
            outcome = server.engine.decide(RequestContext(
                endpoint=handler.endpoint, dialect=handler.dialect.name, method=call.method, path=call.path,
                client_id=facts.client_id, grant_type=facts.grant_type, scope=facts.scope, user=facts.user,
                scenario=scenario,
            ))
        if outcome.delay_ms:
            await asyncio.sleep(outcome.delay_ms / 1000)
        rule = outcome.rule
        if rule is not None and rule.respond is not None:
            response = raw_response(rule.respond)
        elif rule is not None and rule.error is not None:
            raise injected_error(rule.error, handler.endpoint, call, facts.redirect)
        else:
            answer = handler.act(server, checked, env, rule.override if rule else None)
            response = handler.finish(server, await answer if inspect.isawaitable(answer) else answer)
    except OAuthError as err:
        response = handler.finish(server, _error(server, handler, checked, err, issuer))
    except StoreUnavailableError as err:  # Redis gone, SQLite locked: a clear 503, nothing half-written
        log.warning("store unavailable at %s %s: %s", request.method, request.url.path, err)
        response = handler.render_error(TemporarilyUnavailableError("the state store is unavailable; retry"),
                                        issuer)
        response.headers["Retry-After"] = "1"
    except Exception:
        log.exception("unexpected error at %s %s", request.method, request.url.path)
        response = handler.render_error(ServerError("internal error"), issuer)
    request.scope[CLIENT_KEY] = facts.client_id  # the CORS edge answers for this client's origins
    try:
        _record(server, request, handler, call, facts, scenario, outcome, response, started)
    except StoreUnavailableError as err:
        log.warning("journal entry lost, the store is unavailable: %s", err)
    return response


def _error(server: Server, handler: Handler[Any], checked: Any, err: OAuthError, issuer: str) -> Response:
    """The error step: the handler's state change (if any), then its rendering."""
    try:
        handler.on_error(server, checked, err)
    except Exception:
        log.exception("on_error failed at endpoint %s", handler.endpoint)
    return handler.render_error(err, issuer)


def _record(server: Server, request: Request, handler: Handler[Any], call: Call | None, facts: Facts,
            scenario: str | None, outcome: Outcome, response: Response, started: float) -> None:
    params = mask_params([*call.query, *call.form]) if call else {}
    headers = mask_headers(call.headers) if call else {}
    client_id = facts.client_id or (claimed_client_id(call) if call else None)
    grant_type = facts.grant_type or (params.get("grant_type") if isinstance(params.get("grant_type"), str)
                                      else None)
    duration_ms = round((time.perf_counter() - started) * 1000, 3)
    server.journal.record({
        "time": round(server.clock.now(), 3), "method": call.method if call else request.method,
        "path": call.path if call else path_of(request),
        "endpoint": handler.endpoint, "dialect": handler.dialect.name, "client_id": client_id,
        "grant_type": grant_type, "status": response.status_code, "scenario": scenario,
        "rule": outcome.rule_id, "params": params, "headers": headers, "duration_ms": duration_ms,
    })
    if log.isEnabledFor(logging.INFO):
        log.info("%s %s %s endpoint=%s client=%s grant=%s rule=%s %.1fms", request.method, request.url.path,
                 response.status_code, handler.endpoint, client_id, grant_type, outcome.rule_id, duration_ms)
