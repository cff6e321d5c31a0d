"""create_app(config): one independent mock server as an ASGI app; no module-level state.

``ROUTES`` is every protocol path and the handler that answers it, on one screen. One loop
mounts them flat (each route straight on the app, no included router and no dependency to
solve per request: a quarter of a request, docs/performance.md); the control API and the
dashboard are included as routers with their admin guard; the resource stub's ``ResourceRoute``
goes in front of them all (``routers/resources.py``).
"""

from __future__ import annotations

import inspect
import json
import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Route, compile_path

from mock_op_auth import __version__, watch
from mock_op_auth.config.loader import load_default
from mock_op_auth.config.schema import Config
from mock_op_auth.control import api, dashboard
from mock_op_auth.dialects import DIALECTS, ApigeeDialect, Psd2Dialect, RfcDialect
from mock_op_auth.dialects.responses import json_response
from mock_op_auth.http.cors import CorsEdge
from mock_op_auth.http.deps import server_of
from mock_op_auth.http.limits import ControlBodyLimit
from mock_op_auth.http.namespaces import Namespaces, ServerSelect
from mock_op_auth.http.pages import Pages
from mock_op_auth.http.runner import Handler, run
from mock_op_auth.routers.authorize import DECISION_PATH, AuthorizeHandler, DecisionHandler
from mock_op_auth.routers.device import DeviceAuthorizationHandler, DevicePageHandler
from mock_op_auth.routers.discovery import (
    DocumentHandler,
    discovery_document,
    jwks_document,
    resource_metadata_document,
)
from mock_op_auth.routers.introspection import IntrospectHandler, RevokeHandler
from mock_op_auth.routers.logout import LogoutHandler
from mock_op_auth.routers.op_token import APIGEE_GRANTS, PSD2_GRANTS, ApigeeTokenHandler, Psd2TokenHandler
from mock_op_auth.routers.par import ParHandler
from mock_op_auth.routers.psd2 import (
    FUNDS_INTENTS,
    INTENTS,
    PSD2_DECISION_PATH,
    IntentsHandler,
    Psd2AuthorizeHandler,
    Psd2DecisionHandler,
    RegisterHandler,
)
from mock_op_auth.routers.psd2_accounts import AIS, COF, AccountsHandler, CardsHandler, FundsConfirmationHandler
from mock_op_auth.routers.psd2_payments import (
    PIS,
    PIS_JWKS,
    BundleHandler,
    CreatePaymentHandler,
    PaymentHandler,
    SubmitHandler,
    pis_jwks_document,
)
from mock_op_auth.routers.resources import FallbackRoute, ResourceRoute
from mock_op_auth.routers.token import TokenHandler
from mock_op_auth.routers.userinfo import UserinfoHandler
from mock_op_auth.server import Server
from mock_op_auth.settings import Settings
from mock_op_auth.state.store import StoreUnavailableError

if TYPE_CHECKING:
    from mock_op_auth.tls.serving import TlsSettings

log = logging.getLogger("mock_op_auth")

AUTHORIZE_RESPONSES = {200: {"description": "the login page (login: page, or prompt=login)"},
                       302: {"description": "back to the client's redirect_uri"},
                       400: {"description": "an error page: unknown client or redirect_uri"}}
LOGOUT_RESPONSES = {200: {"description": "signed out (no post_logout_redirect_uri given)"},
                    302: {"description": "back to the client's post_logout_redirect_uri, with state"},
                    400: {"description": "an error page: forged id_token_hint, unregistered post_logout_redirect_uri"}}
DECISION_RESPONSES = {302: {"description": "back to the client with a code, or with access_denied"},
                      400: {"description": "an error page: bad CSRF token, unknown or used request"}}
DEVICE_PAGE_RESPONSES = {200: {"description": "the code box, the consent page for a code, or the decision taken"},
                         400: {"description": "an error page: bad CSRF token, unknown or used form"},
                         404: {"description": "the code box again: no such code"},
                         409: {"description": "the code box again: the code is decided or expired"}}
PAR_RESPONSES = {201: {"description": "the request_uri and its lifetime",
                       "content": {"application/json": {"schema": {}}}},
                 400: {"description": "an OAuth error", "content": {"application/json": {"schema": {}}}},
                 401: {"description": "invalid_client", "content": {"application/json": {"schema": {}}}}}


# FastAPI's native OpenTelemetry (FastAPI 0.16x and later) is off: the request journal is the
# mock's record of what it was asked, and a mock should add no spans or metrics to the traces of
# the app under test. It also asked the global providers whether they were configured on every
# request (docs/performance.md).
NO_TELEMETRY = {"tracing": False, "metrics": False, "logs": False}


def _fastapi_options() -> dict[str, Any]:
    """Options of this FastAPI release that the mock sets (older releases have no ``telemetry``)."""
    return {"telemetry": NO_TELEMETRY} if "telemetry" in inspect.signature(FastAPI.__init__).parameters else {}


@dataclass(frozen=True)
class Endpoint:
    """One protocol route: ``methods path`` is answered by ``handler`` through the runner."""

    name: str  # the OpenAPI operation's name
    methods: tuple[str, ...]
    path: str
    handler: Handler[Any]
    summary: str
    tag: str
    responses: dict[int | str, dict[str, Any]] = field(default_factory=dict)


def protocol_routes() -> tuple[Endpoint, ...]:
    """Every protocol path → its handler, busiest first (no two overlap)."""
    rfc = DIALECTS["rfc"]
    pages = Pages()
    discovery = DocumentHandler("discovery", discovery_document)
    jwks = DocumentHandler("jwks", jwks_document)
    authorize = AuthorizeHandler(rfc, pages)
    userinfo = UserinfoHandler()
    logout = LogoutHandler(pages)
    device_page = DevicePageHandler(pages)
    return (
        Endpoint("token", ("POST",), "/token", TokenHandler(rfc, dpop=True), "Token endpoint (RFC 6749 §3.2)",
                 "oauth"),
        Endpoint("apigee_token", ("POST",), "/auth/v2/accesstoken", ApigeeTokenHandler(ApigeeDialect(), APIGEE_GRANTS),
                 "OP general APIs token endpoint (Apigee Edge)", "op"),
        Endpoint("psd2_token", ("POST",), "/oauth/token", Psd2TokenHandler(Psd2Dialect(), PSD2_GRANTS),
                 "OP PSD2 token endpoint", "op"),
        Endpoint("corporate_token", ("POST",), "/corporate-oidc/v1/token",
                 TokenHandler(RfcDialect(), ("client_credentials",)), "OP Corporate Banking APIs token endpoint", "op"),
        Endpoint("introspection", ("POST",), "/introspect", IntrospectHandler(), "Token introspection (RFC 7662)",
                 "oauth"),
        Endpoint("userinfo", ("GET",), "/userinfo", userinfo, "UserInfo endpoint (OIDC Core §5.3)", "oidc"),
        Endpoint("userinfo", ("POST",), "/userinfo", userinfo, "UserInfo endpoint (OIDC Core §5.3)", "oidc"),
        Endpoint("revocation", ("POST",), "/revoke", RevokeHandler(), "Token revocation (RFC 7009)", "oauth"),
        Endpoint("openid_configuration", ("GET",), "/.well-known/openid-configuration", discovery,
                 "OpenID Provider metadata", "discovery"),
        Endpoint("oauth_metadata", ("GET",), "/.well-known/oauth-authorization-server", discovery,
                 "RFC 8414 metadata", "discovery"),
        Endpoint("jwks_document", ("GET",), "/jwks", jwks, "JSON Web Key Set", "discovery"),
        Endpoint("protected_resource_metadata", ("GET",), "/.well-known/oauth-protected-resource",
                 DocumentHandler("discovery", resource_metadata_document),
                 "Protected resource metadata of the resource stub (RFC 9728)", "discovery"),
        Endpoint("device_authorization", ("POST",), "/device_authorization", DeviceAuthorizationHandler(),
                 "Device authorization endpoint (RFC 8628 §3.1)", "oauth"),
        Endpoint("device_page", ("GET",), "/device", device_page, "The device page: a code box (RFC 8628 §3.3)",
                 "oauth", DEVICE_PAGE_RESPONSES),
        Endpoint("device_decision", ("POST",), "/device", device_page, "The device page's Approve or Deny",
                 "oauth", DEVICE_PAGE_RESPONSES),
        Endpoint("pushed_authorization_request", ("POST",), "/par", ParHandler(),
                 "Pushed authorization request endpoint (RFC 9126 §2)", "oauth", PAR_RESPONSES),
        Endpoint("authorize", ("GET",), "/authorize", authorize, "Authorization endpoint (RFC 6749 §3.1)", "oauth",
                 AUTHORIZE_RESPONSES),
        Endpoint("authorize", ("POST",), "/authorize", authorize, "Authorization endpoint (RFC 6749 §3.1)", "oauth",
                 AUTHORIZE_RESPONSES),
        Endpoint("decide", ("POST",), DECISION_PATH, DecisionHandler(rfc), "The login page's Approve or Deny",
                 "oauth", DECISION_RESPONSES),
        Endpoint("end_session", ("GET",), "/logout", logout, "RP-Initiated Logout (end_session_endpoint)", "oidc",
                 LOGOUT_RESPONSES),
        Endpoint("end_session", ("POST",), "/logout", logout, "RP-Initiated Logout (end_session_endpoint)", "oidc",
                 LOGOUT_RESPONSES),
        Endpoint("psd2_authorize", ("GET",), "/oauth/authorize", Psd2AuthorizeHandler(pages),
                 "OP PSD2 authorization endpoint (signed request object)", "op", AUTHORIZE_RESPONSES),
        Endpoint("psd2_decide", ("POST",), PSD2_DECISION_PATH, Psd2DecisionHandler(DIALECTS["psd2"]),
                 "The PSD2 login page's Approve or Deny", "op", DECISION_RESPONSES),
        Endpoint("psd2_jwks", ("GET",), "/oauth/jwks/PSD2_OIDC", jwks, "OP PSD2 ID-token keys", "op"),
        Endpoint("create_intent", ("POST",), INTENTS, IntentsHandler("create"),
                 "Create an AIS authorization (intent)", "op"),
        Endpoint("read_intent", ("GET",), INTENTS + "/{authorization_id}", IntentsHandler("get"),
                 "Read an AIS authorization", "op"),
        Endpoint("revoke_intent", ("DELETE",), INTENTS + "/{authorization_id}", IntentsHandler("delete"),
                 "Revoke an AIS authorization", "op"),
        Endpoint("tpp_register", ("POST",), "/tpp-registration/register", RegisterHandler(),
                 "OP PSD2 TPP registration", "op"),
        # PIS (DESIGN §8): endpoint "payments"
        Endpoint("create_sepa_payment", ("POST",), PIS + "/sepa-payments", CreatePaymentHandler("sepa"),
                 "Create a SEPA payment (PIS)", "op"),
        Endpoint("create_foreign_payment", ("POST",), PIS + "/foreign-payments", CreatePaymentHandler("foreign"),
                 "Create a foreign payment (PIS)", "op"),
        *(Endpoint(f"{verb}_{kind}_payment", (method,), f"{PIS}/{kind}-payments/{{payment_id}}", handler,
                   summary, "op")
          for kind in ("sepa", "foreign")
          for verb, method, handler, summary in (
              ("read", "GET", PaymentHandler("get"), f"Read a {kind} payment (PIS)"),
              ("delete", "DELETE", PaymentHandler("delete"), f"Revoke or cancel a {kind} payment (PIS)"))),
        *(Endpoint(f"submit_{kind}_payment", ("PUT",), f"{PIS}/{kind}-payments/{{payment_id}}/submissions/"
                   "{submission_id}", SubmitHandler(), f"Submit an authorized {kind} payment (PIS)", "op")
          for kind in ("sepa", "foreign")),
        Endpoint("read_payment_bundle", ("GET",), PIS + "/authorizations/{authorization_id}", BundleHandler("get"),
                 "Read a payment authorization (bundle)", "op"),
        Endpoint("list_bundle_payments", ("GET",), PIS + "/authorizations/{authorization_id}/payments",
                 BundleHandler("payments"), "The payments of an authorization (bundle)", "op"),
        Endpoint("pis_jwks", ("GET",), PIS_JWKS, DocumentHandler("jwks", pis_jwks_document),
                 "The key of PIS response signatures (x-jws-signature)", "op"),
        # CoF: endpoint "funds"
        Endpoint("create_funds_intent", ("POST",), FUNDS_INTENTS, IntentsHandler("create", "fundsconfirmations"),
                 "Create a CoF authorization (intent)", "op"),
        Endpoint("read_funds_intent", ("GET",), FUNDS_INTENTS + "/{authorization_id}",
                 IntentsHandler("get", "fundsconfirmations"), "Read a CoF authorization", "op"),
        Endpoint("revoke_funds_intent", ("DELETE",), FUNDS_INTENTS + "/{authorization_id}",
                 IntentsHandler("delete", "fundsconfirmations"), "Revoke a CoF authorization", "op"),
        Endpoint("confirm_funds", ("POST",), COF + "/funds-confirmations", FundsConfirmationHandler(),
                 "Confirm funds for an amount (CoF)", "op"),
        # AIS data from server.psd2.accounts: endpoint "accounts"
        Endpoint("list_accounts", ("GET",), AIS + "/accounts", AccountsHandler("list"), "The PSU's accounts (AIS)",
                 "op"),
        Endpoint("read_account", ("GET",), AIS + "/accounts/{account_id}", AccountsHandler("one"),
                 "One account (AIS)", "op"),
        Endpoint("list_transactions", ("GET",), AIS + "/accounts/{account_id}/transactions",
                 AccountsHandler("transactions"), "An account's transactions (AIS)", "op"),
        Endpoint("list_cards", ("GET",), AIS + "/cards", CardsHandler("list"), "The PSU's cards (AIS)", "op"),
        Endpoint("list_card_transactions", ("GET",), AIS + "/cards/{card_id}/transactions",
                 CardsHandler("transactions"), "A card's transactions (AIS)", "op"),
    )


def _route(endpoint: Endpoint) -> Route:
    """One protocol route, a plain Starlette route: its handler reads the request itself, so
    FastAPI's per-request dependency solving and response handling would be pure cost (a tenth of
    a token request, docs/performance.md). ``openapi_paths`` documents it."""
    handler = endpoint.handler

    async def answer(request: Request) -> Response:
        return await run(server_of(request), request, handler)

    route = Route(endpoint.path, answer, methods=list(endpoint.methods), name=endpoint.name)
    if not isinstance(handler, DocumentHandler):
        # Starlette adds HEAD to GET routes. The documents (discovery, metadata, JWKS) answer it as
        # RFC 9110 §9.3.2 asks; on every other path a GET has effects (a code issued, a login
        # request made), so HEAD there stays 405.
        route.methods.discard("HEAD")
    return route


DEFAULT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Successful Response", "content": {"application/json": {"schema": {}}}}}


def openapi_paths(endpoints: tuple[Endpoint, ...]) -> dict[str, dict[str, Any]]:
    """The OpenAPI path items of the protocol routes (FastAPI documents only its own routes)."""
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        responses = {str(status): answer for status, answer in (endpoint.responses or DEFAULT_RESPONSES).items()}
        responses.setdefault("200", {"description": "Successful Response"})
        params = [{"in": "path", "name": name, "required": True, "schema": {"type": "string"}}
                  for name in compile_path(endpoint.path)[2]]
        for method in endpoint.methods:
            operation: dict[str, Any] = {
                "tags": [endpoint.tag], "summary": endpoint.summary, "responses": responses,
                "operationId": re.sub(r"\W", "_", endpoint.name + endpoint.path) + "_" + method.lower()}
            if params:
                operation["parameters"] = params
            paths.setdefault(endpoint.path, {})[method.lower()] = operation
    return paths


def _reason(error: dict[str, Any]) -> str:
    """A validation error's message; for JSON that does not parse, with the parser's reason."""
    msg = str(error.get("msg", ""))
    cause = (error.get("ctx") or {}).get("error") if error.get("type") == "json_invalid" else None
    return f"{msg}: {cause}" if cause else msg


def create_app(config: Config | None = None, settings: Settings | None = None, *,
               server: Server | None = None, tls: TlsSettings | None = None) -> FastAPI:
    """Build one mock: ``config`` is the fixture (default: the embedded one); ``tls`` when it is
    served over HTTPS (``tls.serving.prepare_tls``)."""
    settings = settings or Settings()
    server = server or Server(config or load_default(), settings, tls=tls)
    app = FastAPI(title="mock-op-auth", version=__version__,
                  description="Scenario-driven mock of OP's OAuth 2.0 / OpenID Connect authorization server",
                  docs_url="/_mock/docs", redoc_url=None, openapi_url="/_mock/openapi.json",
                  swagger_ui_oauth2_redirect_url="/_mock/docs/oauth2-redirect",
                  lifespan=watch.lifespan(server, settings), **_fastapi_options())
    app.state.server = server
    app.state.namespaces = namespaces = Namespaces(server)
    endpoints = protocol_routes()
    app.router.routes[0:0] = [_route(endpoint) for endpoint in endpoints]  # before FastAPI's /_mock/docs
    app.include_router(api.build_router())
    app.include_router(dashboard.build_router())
    reserved = [(r.path, r.path_regex) for r in app.router.routes if isinstance(r, Route)]
    resources = ResourceRoute(server, reserved)
    app.router.routes.insert(0, resources)
    app.router.routes.append(FallbackRoute(resources, app.router.routes))
    app.add_middleware(ControlBodyLimit)
    app.add_middleware(CorsEdge, server=server)  # refusals of the body limit get CORS headers too
    app.add_middleware(ServerSelect, root=server, namespaces=namespaces)  # outermost: picks the namespace first

    documented = openapi_paths(endpoints)

    def openapi() -> dict[str, Any]:
        """FastAPI's document of its own routes (the control API), the protocol routes in front."""
        if app.openapi_schema is None:
            schema = FastAPI.openapi(app)
            schema["paths"] = {**documented, **schema["paths"]}
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code,
                                                                                       "invalid_request")
        return json_response({"error": code, "error_description": str(exc.detail)}, exc.status_code,
                             dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        problems = [{"loc": list(e.get("loc", ())), "msg": _reason(e)} for e in exc.errors()]
        return json_response({"error": "invalid_request",
                              "error_description": "; ".join(f"{'.'.join(map(str, p['loc']))}: {p['msg']}"
                                                             for p in problems),
                              "problems": json.loads(json.dumps(problems, default=str))}, 422)

    @app.exception_handler(StoreUnavailableError)
    async def unavailable(request: Request, exc: StoreUnavailableError) -> Response:
        return json_response({"error": "temporarily_unavailable", "error_description": str(exc)}, 503,
                             {"Retry-After": "1"})

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error at %s %s", request.method, request.url.path)
        return json_response({"error": "server_error", "error_description": "internal error"}, 500)

    return app
