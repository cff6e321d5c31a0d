"""The dashboard at /_mock/ui: active scenario, clock, live tokens, login sessions, PSD2 payments and the
request journal.

Plain HTML forms, no JavaScript. Every action does what the matching control-API call does
(``PUT /_mock/scenario``, ``POST /_mock/clock``, ``DELETE /_mock/tokens/live/{id}``,
``DELETE /_mock/sessions/{sid}``) and nothing a
test could not, then redirects back (303). With ``MOCK_OP_AUTH_ADMIN_TOKEN`` set the dashboard
asks for it: as the password of HTTP Basic (any user name), so a browser can prompt for it, or as
a bearer token. Form posts carry a CSRF token that must match the dashboard's own cookie.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from mock_op_auth.control.admin import require_ui_admin
from mock_op_auth.control.live_tokens import live_tokens, revoke_live_token
from mock_op_auth.control.sessions import end_sessions, session_list
from mock_op_auth.errors import InvalidRequestError
from mock_op_auth.http.call import issuer_of, read_body
from mock_op_auth.http.deps import ServerDep
from mock_op_auth.http.pages import Pages
from mock_op_auth.oauth.clients import secrets_equal
from mock_op_auth.oauth.request import parse_pairs
from mock_op_auth.server import Server
from mock_op_auth.state.clock import CLOCK_RANGE, readable

UI = "/_mock/ui"
CSRF_COOKIE = "mock_op_auth_ui"
JOURNAL_SHOWN = 200
PAYMENTS_SHOWN = 50
CLOCK_STEPS = ((60, "+1 minute"), (300, "+5 minutes"), (3600, "+1 hour"), (86400, "+1 day"))
NOTICES = {
    "scenario": "Scenario changed.", "clock": "Clock moved.", "revoked": "Token revoked.",
    "journal": "Journal emptied.", "session": "Session ended.",
}


def fmt_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_offset(seconds: float) -> str:
    sign = "-" if seconds < 0 else "+"
    total = int(abs(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{days}d " if days else ""
    return f"{sign}{text}{hours:02d}:{minutes:02d}:{secs:02d}"


def journal_view(server: Server) -> list[dict[str, Any]]:
    """The journal newest first, as the control API gives it (secrets were masked when recorded)."""
    entries = server.journal.entries()[-JOURNAL_SHOWN:]
    return [{**e, "when": fmt_time(e["time"]), "detail": json.dumps(
        {"params": e.get("params"), "headers": e.get("headers")}, indent=2, ensure_ascii=False)}
        for e in reversed(entries)]


def payments_view(server: Server) -> list[dict[str, Any]]:
    """The newest PSD2 payments (PIS) with their status now, as OP's API would answer it."""
    shown = []
    service = server.psd2.payments
    for payment in server.store.recent_payments(PAYMENTS_SHOWN):
        bundle = server.psd2.intents.current(payment.authorization_id)
        if bundle is None:
            continue
        payee = payment.request.get("payee") or {}
        amount = payment.request.get("amountEUR") or payment.request.get("amount") or ""
        shown.append({"id": payment.id, "authorization_id": payment.authorization_id, "client_id": payment.client_id,
                      "when": fmt_time(payment.created_at), "kind": "SEPA" if payment.kind == "sepa" else "foreign",
                      "payee": payee.get("name", ""), "amount": f"{amount} {payment.currency}",
                      "count": payment.count, "payer": payment.payer_iban or "",
                      "status": service.status(payment, bundle)})
    return shown


FormHandler = Callable[[dict[str, str], Request, Server], Awaitable[Response]]


class Problem(Exception):
    """A form action refused: shown as the problem page with ``status``."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status, self.text = status, text


async def read_form(request: Request) -> dict[str, str]:
    """The posted form, checked against the dashboard's CSRF cookie (double submit)."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        raise InvalidRequestError("the dashboard's forms are posted as application/x-www-form-urlencoded")
    form = dict(parse_pairs((await read_body(request)).decode("utf-8", "replace")))
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not secrets_equal(form.get("csrf_token", ""), cookie):
        raise InvalidRequestError("the form's CSRF token does not match; reload the dashboard")
    return form


def base_of(server: Server) -> str:
    """The path prefix of the server's dashboard: "" at the root, ``/ns/NAME`` in a namespace."""
    return f"/ns/{server.namespace}" if server.namespace else ""


def back(server: Server, notice: str, anchor: str) -> Response:
    return RedirectResponse(f"{base_of(server)}{UI}?done={notice}#{anchor}", status_code=303)


def build_router() -> APIRouter:
    router = APIRouter(prefix=UI, tags=["dashboard"], include_in_schema=False,
                       dependencies=[Depends(require_ui_admin)])
    pages = Pages()

    def problem(status: int, text: str) -> Response:
        return pages.render("problem.html", status=status, message=text)

    @router.get("")
    async def dashboard(request: Request, server: ServerDep) -> Response:
        token = request.cookies.get(CSRF_COOKIE) or ""
        if len(token) < 32:
            token = secrets.token_urlsafe(32)
        active = server.engine.active
        response = pages.render(
            "dashboard.html", csrf_token=token, notice=NOTICES.get(request.query_params.get("done", "")),
            scenarios=[{"name": n, "description": s.description, "active": n == active}
                       for n, s in server.config.scenarios.items()],
            active=active, now=fmt_time(server.clock.now()), offset=fmt_offset(server.clock.offset),
            offset_seconds=server.clock.offset, steps=CLOCK_STEPS, tokens=live_tokens(server),
            journal=journal_view(server), journal_shown=JOURNAL_SHOWN, base=base_of(server),
            current=server.namespace, namespaces=[r.name for r in request.app.state.namespaces.records()],
            sessions=[{**s.model_dump(), "when": fmt_time(s.auth_time)} for s in session_list(server)],
            payments=payments_view(server),
        )
        response.set_cookie(CSRF_COOKIE, token, path=base_of(server) + UI, httponly=True, samesite="strict")
        return response

    def posted(path: str) -> Callable[[FormHandler], FormHandler]:
        """Register a form action at ``path``: it gets the CSRF-checked form, and a refusal (an
        unreadable form, a ``Problem`` it raises) is a problem page, not a redirect."""
        def register(handler: FormHandler) -> FormHandler:
            async def route(request: Request, server: ServerDep) -> Response:
                try:
                    return await handler(await read_form(request), request, server)
                except InvalidRequestError as err:
                    return problem(400, err.description)
                except Problem as refused:
                    return problem(refused.status, refused.text)
            router.add_api_route(path, route, methods=["POST"], name=handler.__name__)
            return handler
        return register

    @posted("/scenario")
    async def scenario(form: dict[str, str], request: Request, server: Server) -> Response:
        try:
            server.engine.activate(form.get("name") or None)
        except KeyError:
            raise Problem(404, f"unknown scenario {form.get('name')}") from None
        return back(server, "scenario", "scenario")

    @posted("/clock")
    async def clock(form: dict[str, str], request: Request, server: Server) -> Response:
        if form.get("real") == "1":
            server.clock.reset()
            return back(server, "clock", "clock")
        try:
            seconds = float(form.get("advance", ""))
        except ValueError:
            raise Problem(400, "advance must be a number of seconds") from None
        if not readable(server.clock.now() + seconds):
            raise Problem(400, f"advance {form['advance']}: {CLOCK_RANGE}")
        server.clock.advance(seconds)
        return back(server, "clock", "clock")

    @posted("/tokens/revoke")
    async def revoke(form: dict[str, str], request: Request, server: Server) -> Response:
        if not revoke_live_token(server, form.get("id", "")):
            raise Problem(404, "no live token with that id (expired or revoked already)")
        return back(server, "revoked", "tokens")

    @posted("/sessions/end")
    async def end_session(form: dict[str, str], request: Request, server: Server) -> Response:
        if not await end_sessions(server, [form.get("sid", "")], issuer_of(request, server.settings.issuer)):
            raise Problem(404, "no live session with that sid (it ended already)")
        return back(server, "session", "sessions")

    @posted("/journal/clear")
    async def clear_journal(form: dict[str, str], request: Request, server: Server) -> Response:
        server.journal.clear()
        return back(server, "journal", "journal")

    return router

