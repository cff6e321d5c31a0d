"""OP's PSD2 account data (AIS) and confirmation of funds (CoF; DESIGN §8), from the fixture's
``server.psd2.accounts`` (``op/psd2/accounts.py``, ``op/psd2/funds.py``). Both need the PSU's
access token of an Authorized authorization of their API, and the client's ``x-api-key``:

- GET /accounts-psd2/v1/accounts (a bare JSON array, as OP's demo TPP reads it), .../{accountId},
  .../{accountId}/transactions[?continuationToken=], /cards, /cards/{cardId}/transactions
  (journal and rules: endpoint ``accounts``)
- POST /confirmation-of-funds-psd2/v1/funds-confirmations (endpoint ``funds``)
"""

from __future__ import annotations

from typing import Any, Literal

from starlette.responses import Response

from mock_op_auth.config.schema import Psd2Account, Psd2Card, TokenAction
from mock_op_auth.dialects import DIALECTS
from mock_op_auth.dialects.psd2 import business_error
from mock_op_auth.dialects.responses import NO_STORE, json_response
from mock_op_auth.errors import OAuthError
from mock_op_auth.http.runner import BaseHandler, Facts
from mock_op_auth.oauth.context import Env
from mock_op_auth.oauth.request import Call
from mock_op_auth.op.psd2.accounts import page_of
from mock_op_auth.op.psd2.funds import FundsQuestion
from mock_op_auth.routers.psd2_payments import json_body
from mock_op_auth.server import Server
from mock_op_auth.state.store import Intent

AIS = "/accounts-psd2/v1"
COF = "/confirmation-of-funds-psd2/v1"


class BusinessHandler(BaseHandler[Any]):
    """A call of a business API: OP's gateway's and APIs' error shapes."""

    dialect = DIALECTS["psd2"]

    def render_error(self, err: OAuthError, issuer: str) -> Response:
        return business_error(err)

    @staticmethod
    def psu(server: Server, call: Call, env: Env, kind: Literal["accounts", "fundsconfirmations"]
            ) -> tuple[Intent, Facts]:
        """The PSU's Authorized ``kind`` authorization behind the call, and the facts rules match."""
        access = server.psd2.access
        caller = access.caller(call, env, server.issuers(env.issuer), server.audiences(env.issuer), kind)
        intent = access.psu(caller, kind)
        return intent, Facts(caller.client_id, None, caller.token.scope, caller.user)


class AccountsHandler(BusinessHandler):
    """The PSU's accounts (``list``), one account (``one``) or its transactions (``transactions``)."""

    endpoint = "accounts"

    def __init__(self, action: Literal["list", "one", "transactions"]) -> None:
        self.action = action

    def check(self, server: Server, call: Call, env: Env) -> tuple[Facts, tuple[Intent, Psd2Account | None, str]]:
        intent, facts = self.psu(server, call, env, "accounts")
        account = None
        if self.action != "list":
            account = server.psd2.accounts.account(env.server_config.psd2, intent.user,
                                                   call.path_params.get("account_id", ""))
        return facts, (intent, account, call.query_param("continuationToken") or "")

    def act(self, server: Server, checked: tuple[Intent, Psd2Account | None, str], env: Env,
            override: TokenAction | None) -> Response:
        intent, account, token = checked
        accounts = server.psd2.accounts
        if account is None:
            held = accounts.accounts_for(env.server_config.psd2, intent.user)
            return json_response([accounts.account_body(a, env.config) for a in held], headers=NO_STORE)
        if self.action == "one":
            return json_response(accounts.account_body(account, env.config), headers=NO_STORE)
        rows = accounts.transactions(account, (intent.transaction_from, intent.transaction_to))
        return transactions_page(rows, token, env.server_config.psd2.page_size)


def transactions_page(rows: list[dict[str, Any]], token: str, size: int) -> Response:
    """One page of an account's or card's transactions, with the token for the next one (OP's AIS paging)."""
    page = page_of(rows, token, size)
    body: dict[str, Any] = {"transactions": page.items}
    if page.continuation:
        body["continuationToken"] = page.continuation
    return json_response(body, headers=NO_STORE)


class CardsHandler(BusinessHandler):
    """The PSU's cards (``list``) or one card's transactions (``transactions``)."""

    endpoint = "accounts"

    def __init__(self, action: Literal["list", "transactions"]) -> None:
        self.action = action

    def check(self, server: Server, call: Call, env: Env) -> tuple[Facts, tuple[Intent, Psd2Card | None, str]]:
        intent, facts = self.psu(server, call, env, "accounts")
        card = None
        if self.action == "transactions":
            card = server.psd2.accounts.card(env.server_config.psd2, intent.user, call.path_params.get("card_id", ""))
        return facts, (intent, card, call.query_param("continuationToken") or "")

    def act(self, server: Server, checked: tuple[Intent, Psd2Card | None, str], env: Env,
            override: TokenAction | None) -> Response:
        intent, card, token = checked
        accounts = server.psd2.accounts
        if card is None:
            held = accounts.accounts_for(env.server_config.psd2, intent.user)
            return json_response([accounts.card_body(c) for a in held for c in a.cards], headers=NO_STORE)
        return transactions_page(accounts.card_transactions(card), token, env.server_config.psd2.page_size)


class FundsConfirmationHandler(BusinessHandler):
    """POST /funds-confirmations: ``{authorizationId, amountEUR}`` → ``{fundsAvailable, ...}`` (201)."""

    endpoint = "funds"

    def check(self, server: Server, call: Call, env: Env) -> tuple[Facts, FundsQuestion]:
        intent, facts = self.psu(server, call, env, "fundsconfirmations")
        return facts, server.psd2.funds.check(json_body(call), intent, env.server_config.psd2)

    def act(self, server: Server, checked: FundsQuestion, env: Env, override: TokenAction | None) -> Response:
        return json_response(server.psd2.funds.confirm(checked), 201, NO_STORE)
