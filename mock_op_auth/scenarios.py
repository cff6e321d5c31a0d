"""The scenario engine: which rule, if any, acts on a request (DESIGN §4).

``decide`` is the only scenario call in the codebase: every endpoint's runner asks it with a
RequestContext of verified facts. Runtime rules (``POST /_mock/rules``) are tried first, then
the rules of the request's scenario: the ``X-Mock-Scenario`` header, else the client's
``scenario``, else the active one. The first match whose ``times`` is not used up acts; its
counter is kept per scenario and reset when the scenario is (re)activated or the server reset.

With a shared store (``state``), the active scenario, the runtime rules and every counter live
there: a ``times: N`` rule fires N times in all, whichever processes the requests reach.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from mock_op_auth.config.schema import Config, Rule, RuleMatch, ScenarioServer, ServerConfig
from mock_op_auth.state.shared import NOT_SET, SharedState

MAX_RUNTIME_RULES = 1000


class RuleLimitError(Exception):
    """Too many runtime rules are queued (each is tried on every request, so they are bounded)."""


@dataclass(frozen=True)
class RequestContext:
    """The facts about one request that a rule may match."""

    endpoint: str
    dialect: str
    method: str
    path: str
    client_id: str | None = None
    grant_type: str | None = None
    scope: tuple[str, ...] = ()
    user: str | None = None
    scenario: str | None = None  # the scenario this request runs under
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """What the engine decided: the rule that acted (if any) and where it came from."""

    rule: Rule | None = None
    rule_id: str | None = None  # "runtime:3" or "<scenario>:0"

    @property
    def delay_ms(self) -> int:
        return self.rule.delay_ms if self.rule else 0


NO_OUTCOME = Outcome()


def grant_type_matches(wanted: str, grant_type: str | None) -> bool:
    """A rule's ``grant_type`` names the grant by its URN or by the URN's last segment (``device_code``)."""
    if grant_type is None:
        return False
    return wanted == grant_type or (grant_type.startswith("urn:") and wanted == grant_type.rsplit(":", 1)[-1])


def rule_matches(match: RuleMatch, ctx: RequestContext) -> bool:
    if match.endpoint is not None and match.endpoint != ctx.endpoint:
        return False
    if match.grant_type is not None and not grant_type_matches(match.grant_type, ctx.grant_type):
        return False
    if match.client_id is not None and match.client_id != ctx.client_id:
        return False
    if match.scope is not None and not set(match.scope.split()) <= set(ctx.scope):
        return False
    if match.user is not None and match.user != ctx.user:
        return False
    if match.path is not None and match.path != ctx.path:
        return False
    return match.method is None or match.method == ctx.method


def _used_up(data: str, used: int) -> bool:
    times = Rule.model_validate_json(data).times
    return times is not None and used >= times


class ScenarioEngine:
    def __init__(self, config: Config, default_scenario: str | None = None, state: SharedState | None = None) -> None:
        self._lock = threading.Lock()
        self.config = config
        self._setting = default_scenario  # --scenario / MOCK_OP_AUTH_SCENARIO: wins over the fixture's
        self._default = default_scenario or config.server.default_scenario
        self.active: str | None = self._default
        self._runtime: list[tuple[int, Rule]] = []
        self._next_runtime_id = 1
        self._used: dict[str, int] = {}
        self._state = state

    def _default_active(self) -> str | None:
        return self._default if self._default in self.config.scenarios else None

    def sync(self, active: str | None, rules_changed: bool) -> None:
        """Take the shared store's active scenario (NOT_SET: the default) and, if they changed, its rules."""
        assert self._state is not None
        self.active = self._default_active() if active == NOT_SET else active
        if rules_changed:
            rules = [(rule_id, Rule.model_validate_json(data)) for rule_id, data in self._state.rules()]
            with self._lock:
                self._runtime = rules

    def reload(self, config: Config) -> None:
        """Take a new fixture (its ``server.default_scenario`` too, for the next reset); keep the
        active scenario if it still exists, and its counters."""
        with self._lock:
            self.config = config
            self._default = self._setting or config.server.default_scenario
            if self.active is not None and self.active not in config.scenarios:
                self.active = None

    def reset(self) -> None:
        """Back to the default scenario, no runtime rules, counters afresh (a shared store resets its own)."""
        with self._lock:
            self.active = self._default_active()
            self._runtime.clear()
            self._used.clear()

    def activate(self, name: str | None) -> None:
        """Make ``name`` the active scenario (None for none); its rule counters start afresh."""
        if name is not None and name not in self.config.scenarios:
            raise KeyError(name)
        if self._state is not None:
            self._state.set_active(name)
        with self._lock:
            self.active = name
            prefix = f"{name}:"
            self._used = {k: v for k, v in self._used.items() if not k.startswith(prefix)}

    def add_rule(self, rule: Rule) -> str:
        """Queue a runtime rule; past ``MAX_RUNTIME_RULES`` the used-up ones make room, else it is refused."""
        if self._state is not None:
            shared_id = self._state.add_rule(rule.model_dump_json(by_alias=True), MAX_RUNTIME_RULES, _used_up)
            if shared_id is None:
                raise RuleLimitError(f"{MAX_RUNTIME_RULES} runtime rules are queued; DELETE /_mock/rules first")
            self.sync(self.active, rules_changed=True)
            return f"runtime:{shared_id}"
        with self._lock:
            if len(self._runtime) >= MAX_RUNTIME_RULES:
                self._runtime = [(i, r) for i, r in self._runtime
                                 if r.times is None or self._used.get(f"runtime:{i}", 0) < r.times]
            if len(self._runtime) >= MAX_RUNTIME_RULES:
                raise RuleLimitError(f"{MAX_RUNTIME_RULES} runtime rules are queued; DELETE /_mock/rules first")
            rule_id = self._next_runtime_id
            self._next_runtime_id += 1
            self._runtime.append((rule_id, rule))
            return f"runtime:{rule_id}"

    def runtime_rules(self) -> list[dict[str, Any]]:
        used = self._state.rule_uses() if self._state is not None else self._used
        with self._lock:
            return [{"id": f"runtime:{i}", "used": used.get(f"runtime:{i}", 0),
                     **rule.model_dump(by_alias=True, exclude_defaults=True)} for i, rule in self._runtime]

    def clear_rules(self) -> None:
        if self._state is not None:
            self._state.clear_rules()
        with self._lock:
            self._runtime.clear()

    def scenario_for(self, header: str | None, client_id: str | None) -> str | None:
        """Which scenario a request runs under; an unknown header name is the caller's error."""
        if header:
            return header
        client = self.config.clients.get(client_id) if client_id else None
        if client is not None and client.scenario:
            return client.scenario
        return self.active

    def server_config(self, scenario: str | None) -> ServerConfig:
        """The server settings in force under ``scenario`` (its ``server`` overrides applied)."""
        base = self.config.server
        found = self.config.scenarios.get(scenario) if scenario else None
        if found is None or found.server == ScenarioServer():
            return base
        changes = found.server.model_dump(exclude_none=True)
        return base.model_copy(update=changes)

    def quiet(self, scenario: str | None) -> bool:
        """No rule could act on a request under ``scenario``: no runtime rule, and the scenario
        (if any) has none. Most requests of most tests: the runner then skips ``decide``."""
        if self._runtime:
            return False
        found = self.config.scenarios.get(scenario) if scenario else None
        return found is None or not found.rules

    def decide(self, ctx: RequestContext) -> Outcome:
        with self._lock:
            for rule_id, rule in self._runtime:
                key = f"runtime:{rule_id}"
                if self._try(key, rule, ctx):
                    return Outcome(rule, key)
            scenario = self.config.scenarios.get(ctx.scenario) if ctx.scenario else None
            if scenario is not None:
                for index, rule in enumerate(scenario.rules):
                    key = f"{ctx.scenario}:{index}"
                    if self._try(key, rule, ctx):
                        return Outcome(rule, key)
        return NO_OUTCOME

    def _try(self, key: str, rule: Rule, ctx: RequestContext) -> bool:
        if not rule_matches(rule.match, ctx):
            return False
        used = self._used.get(key, 0)
        if rule.times is not None and used >= rule.times:
            return False
        if self._state is not None:  # the shared count decides: N uses in all, over every process
            return self._state.use_rule(key, rule.times)
        self._used[key] = used + 1
        return True
