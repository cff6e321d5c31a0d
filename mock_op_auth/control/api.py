"""The control API under /_mock (DESIGN §3): what a test in any language uses to steer the mock.

With ``MOCK_OP_AUTH_ADMIN_TOKEN`` set, every call but health needs ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from mock_op_auth.config.schema import Rule
from mock_op_auth.control.admin import require_admin
from mock_op_auth.control.journaling import JournaledRoute
from mock_op_auth.control.key_rotation import KeyRotation, rotate_keys
from mock_op_auth.control.live_tokens import LiveTokenList, live_tokens, revoke_live_token
from mock_op_auth.control.minting import MintedToken, MintError, MintRequest, mint_token
from mock_op_auth.control.sessions import SessionList, end_sessions, session_list
from mock_op_auth.dialects import DIALECTS
from mock_op_auth.dialects.responses import NO_STORE
from mock_op_auth.errors import OAuthError
from mock_op_auth.http.call import issuer_of
from mock_op_auth.http.deps import ServerDep
from mock_op_auth.http.namespaces import NamespaceError
from mock_op_auth.json_input import JsonInputError, JsonNestingError, parse_json
from mock_op_auth.oauth.device import DeviceDecisionError, format_user_code
from mock_op_auth.scenarios import RuleLimitError
from mock_op_auth.server import Server
from mock_op_auth.state.clock import CLOCK_RANGE, readable

AdminDep = Annotated[None, Depends(require_admin)]


class ControlRequest(Request):
    """A control call's request: FastAPI reads its JSON body through ``parse_json``, so a body
    nested too deep is a 400 like any unreadable body, and what RFC 8259 does not allow (NaN,
    Infinity, a lone surrogate) is malformed JSON: FastAPI's 422, with the reason."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = parse_json(body)
            except JsonNestingError as err:
                raise HTTPException(400, str(err)) from None
            except JsonInputError as err:
                raise json.JSONDecodeError(str(err), body.decode("utf-8", "replace"), 0) from None
        return self._json


class ControlRoute(JournaledRoute):
    """The control API's routes: journaled, and handed a ``ControlRequest``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def control(request: Request) -> Response:
            return await handler(ControlRequest(request.scope, request.receive))

        return control


class Health(BaseModel):
    status: str = "ok"


class ScenarioInfo(BaseModel):
    name: str
    description: str
    rules: int
    active: bool


class ScenarioList(BaseModel):
    active: str | None
    scenarios: list[ScenarioInfo]


class ScenarioChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(description="the scenario to activate; null for none")


class RuleAdded(BaseModel):
    id: str


class RuleList(BaseModel):
    rules: list[dict[str, Any]]


class JournalEntry(BaseModel):
    """One recorded request; ``params`` and ``headers`` have their secrets replaced by ``***``."""

    model_config = ConfigDict(extra="allow")
    id: int
    time: float
    method: str
    path: str
    endpoint: str
    client_id: str | None = None
    grant_type: str | None = None
    status: int | None = Field(description="the answer's status; null for an outgoing call that got no answer")
    scenario: str | None = None
    rule: str | None = Field(None, description="the rule that acted: runtime:N or <scenario>:<index>")
    params: dict[str, Any] = {}
    headers: dict[str, str] = {}


class Journal(BaseModel):
    requests: list[JournalEntry]


class ClockChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    advance: float | None = Field(None, allow_inf_nan=False,
                                  description="seconds to move the clock forward (or back, if negative)")
    set: float | None = Field(None, allow_inf_nan=False, description="the epoch seconds the clock should read now")


class CertificateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: str = Field(description="the certificate's subject, an RFC 4514 DN: CN=tpp-1,O=Example TPP")


class IssuedCertificate(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    certificate: str = Field(description="PEM, signed by the mock's CA")
    private_key: str = Field(description="PEM (PKCS#8, unencrypted)")
    ca: str = Field(description="the CA certificate, PEM")
    x5t_s256: str = Field(alias="x5t#S256", description="RFC 8705 thumbprint: what cnf of a bound token names")


class ClockState(BaseModel):
    now: float
    offset: float


class NamespaceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, description="[A-Za-z0-9][A-Za-z0-9_-]{0,62}; default: a generated one")
    fixtures: dict[str, Any] | None = Field(None, description="a fixture document; default: the server's own")


class NamespaceInfo(BaseModel):
    name: str
    url: str = Field(description="the namespace's base URL: every path of the mock under it")
    issuer: str


class NamespaceEntry(NamespaceInfo):
    created_at: float
    used_at: float = Field(description="wall-clock time of its last request; it expires when idle")


class NamespaceList(BaseModel):
    namespaces: list[NamespaceEntry]


class DeviceDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: str | None = Field(None, description="approve or deny")
    user: str | None = Field(None, description="approve as this fixture user (or any subject); "
                                               "default: the user login: auto picks")


class DeviceDecided(BaseModel):
    user_code: str
    status: str = Field(description="approved or denied")


def build_router() -> APIRouter:
    public = APIRouter(prefix="/_mock", tags=["control"])
    router = APIRouter(prefix="/_mock", tags=["control"], dependencies=[Depends(require_admin)],
                       route_class=ControlRoute)

    @public.get("/health", response_model=Health, summary="Ready once fixtures are loaded")
    async def health() -> Health:
        return Health()

    @public.get("/certs/ca", response_class=PlainTextResponse, summary="The mock's CA certificate (PEM)",
                responses={200: {"content": {"application/x-pem-file": {}}}})
    async def ca_certificate(server: ServerDep) -> PlainTextResponse:
        return PlainTextResponse(server.certificate_authority().cert_pem, media_type="application/x-pem-file")

    @router.post("/certs", response_model=IssuedCertificate, response_model_by_alias=True, status_code=201,
                 summary="Issue a client certificate signed by the mock's CA (OP's sandbox generator)")
    async def issue_certificate(body: CertificateRequest, server: ServerDep, response: Response) -> IssuedCertificate:
        from mock_op_auth.tls.certs import ClientCertificate, issue_client_certificate
        from mock_op_auth.tls.names import DistinguishedNameError

        ca = server.certificate_authority()
        try:
            cert_pem, key_pem = issue_client_certificate(ca, body.subject)
        except DistinguishedNameError as err:
            raise HTTPException(400, f"subject is not an RFC 4514 distinguished name: {err}") from None
        thumbprint = ClientCertificate.from_pem(cert_pem).x5t_s256
        response.headers.update(NO_STORE)  # a private key, like a token response (RFC 6749 §5.1)
        return IssuedCertificate(certificate=cert_pem, private_key=key_pem, ca=ca.cert_pem, x5t_s256=thumbprint)

    @router.post("/reset", response_model=Health, summary="Forget tokens, codes, journal, rules and clock offset")
    async def reset(server: ServerDep) -> Health:
        server.reset()
        return Health()

    @router.get("/scenarios", response_model=ScenarioList, summary="The fixture's scenarios")
    async def scenarios(server: ServerDep) -> ScenarioList:
        active = server.engine.active
        return ScenarioList(active=active, scenarios=[
            ScenarioInfo(name=name, description=s.description, rules=len(s.rules), active=name == active)
            for name, s in server.config.scenarios.items()])

    @router.put("/scenario", response_model=ScenarioList, summary="Activate a scenario (null for none)")
    async def activate(choice: ScenarioChoice, server: ServerDep) -> ScenarioList:
        try:
            server.engine.activate(choice.name)
        except KeyError:
            raise HTTPException(404, f"unknown scenario {choice.name}") from None
        return await scenarios(server)

    @router.post("/rules", response_model=RuleAdded, status_code=201, summary="Queue a rule, tried first")
    async def add_rule(rule: Rule, server: ServerDep) -> RuleAdded:
        try:
            return RuleAdded(id=server.engine.add_rule(rule))
        except RuleLimitError as err:
            raise HTTPException(409, str(err)) from None

    @router.get("/rules", response_model=RuleList, summary="The runtime rules and how often each acted")
    async def list_rules(server: ServerDep) -> RuleList:
        return RuleList(rules=server.engine.runtime_rules())

    @router.delete("/rules", status_code=204, summary="Remove every runtime rule")
    async def clear_rules(server: ServerDep) -> None:
        server.engine.clear_rules()

    @router.get("/requests", response_model=Journal, summary="The request journal, oldest first, secrets masked")
    async def requests(server: ServerDep, endpoint: Annotated[str | None, Query()] = None,
                       client_id: Annotated[str | None, Query()] = None) -> Journal:
        return Journal.model_validate({"requests": server.journal.entries(endpoint, client_id)})

    @router.delete("/requests", status_code=204, summary="Empty the request journal")
    async def clear_requests(server: ServerDep) -> None:
        server.journal.clear()

    @router.get("/clock", response_model=ClockState, summary="The mock clock")
    async def clock(server: ServerDep) -> ClockState:
        return ClockState(now=server.clock.now(), offset=server.clock.offset)

    @router.post("/clock", response_model=ClockState, summary="Move the clock: advance by seconds, or set")
    async def move_clock(change: ClockChange, server: ServerDep) -> ClockState:
        if (change.advance is None) == (change.set is None):
            raise HTTPException(422, "give exactly one of advance or set")
        target = server.clock.now() + change.advance if change.advance is not None else change.set
        if not readable(target):  # type: ignore[arg-type]
            raise HTTPException(422, CLOCK_RANGE)
        if change.advance is not None:
            server.clock.advance(change.advance)
        else:
            server.clock.set(change.set)  # type: ignore[arg-type]
        return await clock(server)

    @router.post("/keys/rotate", response_model=KeyRotation,
                 summary="New signing key; the old ones stay in the JWKS until their tokens expire")
    async def rotate(server: ServerDep) -> KeyRotation:
        return rotate_keys(server)

    # POST /_mock/tokens: mint a token directly (control/minting.py).
    @router.post("/tokens", response_model=MintedToken, summary="Mint an access token, valid or with a defect")
    async def mint(body: MintRequest, request: Request, server: ServerDep, response: Response) -> MintedToken:
        issuer = issuer_of(request, server.settings.issuer)
        server.note_issuer(issuer)
        try:
            minted = mint_token(server, body, issuer)
        except MintError as err:
            raise HTTPException(400, str(err)) from None
        response.headers.update(NO_STORE)  # a token, as at /token (RFC 6749 §5.1)
        return minted

    # A device code decided without a browser (RFC 8628; the /device page does the same).
    @router.post("/device/{user_code}", response_model=DeviceDecided,
                 summary="Approve or deny a device code, as the user would on /device",
                 responses={400: {"description": "a decision other than approve or deny"},
                            404: {"description": "no such user code"},
                            409: {"description": "the code is already decided or has expired"}})
    async def decide_device(user_code: str, body: DeviceDecision, request: Request,
                            server: ServerDep) -> DeviceDecided:
        if body.decision not in ("approve", "deny"):
            raise HTTPException(400, "decision must be approve or deny")
        issuer = issuer_of(request, server.settings.issuer)
        env = server.env(issuer, server.engine.server_config(server.engine.active), DIALECTS["rfc"])
        try:
            device = server.device.decide(user_code, body.decision == "approve", body.user, env)
        except DeviceDecisionError as err:
            raise HTTPException(err.status, err.message) from None
        except OAuthError as err:
            raise HTTPException(400, err.description) from None
        return DeviceDecided(user_code=format_user_code(device.user_code), status=device.status)

    # Live access tokens, listed without the tokens themselves (the dashboard at /_mock/ui uses these too).
    @router.get("/tokens/live", response_model=LiveTokenList, summary="Access tokens not expired nor revoked")
    async def tokens_live(server: ServerDep) -> LiveTokenList:
        return LiveTokenList(tokens=live_tokens(server))

    @router.delete("/tokens/live/{token_id}", status_code=204, summary="Revoke one live access token by its id")
    async def revoke_live(token_id: str, server: ServerDep) -> None:
        if not revoke_live_token(server, token_id):
            raise HTTPException(404, f"no live token {token_id}")

    # Login sessions (DESIGN §9): ending one is a logout, back-channel logout included.
    @router.get("/sessions", response_model=SessionList, summary="The live login sessions")
    async def sessions(server: ServerDep) -> SessionList:
        return SessionList(sessions=session_list(server))

    @router.delete("/sessions", status_code=204, summary="End every login session (a logout of each)")
    async def end_all(request: Request, server: ServerDep) -> None:
        await end_sessions(server, [s.sid for s in server.sessions.live()], issuer_of(request, server.settings.issuer))

    @router.delete("/sessions/{sid}", status_code=204, summary="End one login session (a logout)")
    async def end_one(sid: str, request: Request, server: ServerDep) -> None:
        if not await end_sessions(server, [sid], issuer_of(request, server.settings.issuer)):
            raise HTTPException(404, f"no live session {sid[:64]}")

    def namespace_urls(request: Request, server: Server, name: str) -> tuple[str, str]:
        base = str(request.base_url).rstrip("/")
        issuer = server.settings.issuer.rstrip("/") if server.settings.issuer else base
        return f"{base}/ns/{name}", f"{issuer}/ns/{name}"

    def at_root(server: Server) -> None:
        if server.namespace:
            raise HTTPException(404, "namespaces are managed at the root (/_mock/namespaces), not inside one")

    @router.post("/namespaces", response_model=NamespaceInfo, status_code=201,
                 summary="A whole mock under /ns/{name}: its own issuer, clients, tokens, keys, rules, journal, clock")
    async def create_namespace(body: NamespaceRequest, request: Request, server: ServerDep) -> NamespaceInfo:
        at_root(server)
        try:
            created = request.app.state.namespaces.create(body.name, body.fixtures)
        except NamespaceError as err:
            raise HTTPException(err.status, str(err)) from None
        url, issuer = namespace_urls(request, server, created.namespace)
        return NamespaceInfo(name=created.namespace, url=url, issuer=issuer)

    @router.get("/namespaces", response_model=NamespaceList, summary="The live namespaces")
    async def list_namespaces(request: Request, server: ServerDep) -> NamespaceList:
        at_root(server)
        entries = []
        for record in request.app.state.namespaces.records():
            url, issuer = namespace_urls(request, server, record.name)
            entries.append(NamespaceEntry(name=record.name, url=url, issuer=issuer, created_at=record.created_at,
                                          used_at=record.used_at))
        return NamespaceList(namespaces=entries)

    @router.delete("/namespaces/{name}", status_code=204, summary="Delete a namespace and everything in it")
    async def delete_namespace(name: str, request: Request, server: ServerDep) -> None:
        at_root(server)
        if not request.app.state.namespaces.delete(name):
            raise HTTPException(404, f"no namespace {name[:80]}")

    root = APIRouter()
    root.include_router(public)
    root.include_router(router)
    return root
