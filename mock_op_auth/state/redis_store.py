"""RedisStore: the Store and its shared state in Redis (``--state redis://host:port/db``), for
replicas on several machines behind a load balancer (DESIGN §11), as panva's oidc-provider,
Hydra and dex share theirs.

Keys, under ``mock-op-auth:`` (or the URL's ``?prefix=``, so several mocks can share one Redis)
and the namespace (``/`` for the root, ``NAME/`` for another):
``r/KIND/ID`` a record as JSON, ``i/KIND`` a sorted set of a kind's ids by expiry (listing and
purging), ``g/GRANT`` the access tokens of a grant, ``control`` (a hash: clock offset, active
scenario, versions), ``rules``, ``counters``, ``journal`` and ``keys/ALG``; the namespaces'
registry is ``namespaces``.

Single use and rotation are WATCH/MULTI transactions (``update``), a rule's ``times`` and the
journal's ids Lua scripts, so concurrent requests at several processes see one order. Expiry is
by the mock clock, which tests move: every record carries its ``expires_at`` and readers check
it; Redis's own TTL (the record's remaining time plus ``GRACE``) only frees memory. When Redis
goes away each call raises ``StoreUnavailableError`` (the server answers 503) and the next call
after it returns reconnects; a transaction either happened whole or not at all.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from mock_op_auth.state.clock import Clock
from mock_op_auth.state.shared import NOT_SET, Control, NamespaceRecord
from mock_op_auth.state.store import (
    KEPT_BY_RESET,
    KINDS,
    NEVER,
    Change,
    RecordStore,
    StoreUnavailableError,
    decode,
    encode,
)

PREFIX = "mock-op-auth:"
GRACE = 600  # seconds Redis keeps a record past its expiry by the mock clock (a clock moved back finds it)
T = TypeVar("T")

USE_RULE = """
local used = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if used >= tonumber(ARGV[2]) then return 0 end
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
return 1
"""
PUT = """
local data, pxat, id, score, grant_index, bump = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
if pxat == '' then redis.call('SET', KEYS[1], data) else redis.call('SET', KEYS[1], data, 'PXAT', pxat) end
redis.call('ZADD', KEYS[2], score, id)
if grant_index ~= '' then
  redis.call('SADD', grant_index, id)
  if pxat ~= '' then
    redis.call('PEXPIREAT', grant_index, pxat, 'GT')
    redis.call('PEXPIREAT', grant_index, pxat, 'NX')
  end
end
if bump == '1' then redis.call('HINCRBY', KEYS[3], 'clients_version', 1) end
return 1
"""
JOURNAL_APPEND = """
local id = redis.call('INCR', KEYS[2])
redis.call('RPUSH', KEYS[1], id .. ' ' .. ARGV[1])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)
return id
"""


def glob_escape(text: str) -> str:
    """``text`` matched literally in a SCAN pattern: a prefix or name holding ``*``, ``?`` or
    ``[`` would otherwise match other keys (another namespace's, the root's, another mock's)."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def split_prefix(url: str) -> tuple[str, str]:
    """The URL without its ``prefix`` parameter (redis-py knows no such thing), and the key prefix."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = next((v for k, v in query if k == "prefix"), None)
    rest = urlencode([(k, v) for k, v in query if k != "prefix"])
    return urlunsplit(parts._replace(query=rest)), (f"{prefix}:" if prefix else PREFIX)


def connect(url: str) -> redis.Redis:
    """A client that fails fast (a 503 beats a hung request) and reconnects on its next call. One
    connection for single commands (the server calls from one event loop; a pool's checks cost a
    syscall per command); pipelines and transactions take theirs from the pool."""
    return redis.Redis.from_url(split_prefix(url)[0], socket_timeout=2, socket_connect_timeout=2,
                                retry=Retry(NoBackoff(), 1), health_check_interval=0, single_connection_client=True)


class RedisStore(RecordStore):
    """The Store protocol and SharedState over Redis, for one namespace ("" is the root)."""

    shared = True

    def __init__(self, url: str, clock: Clock, *, namespace: str = "", client: redis.Redis | None = None) -> None:
        self._clock = clock
        self.url = url
        self._r = client if client is not None else self._call(connect, url)
        self.namespace = namespace
        self._base = split_prefix(url)[1]
        self._n = f"{self._base}{namespace}/"
        self._kinds = {kind: f"{self._n}r/{kind}/" for kind in KINDS}
        self._control = self._n + "control"
        self._use_rule = self._r.register_script(USE_RULE)
        self._journal_append = self._r.register_script(JOURNAL_APPEND)
        self._put = self._r.register_script(PUT)
        self._writes = 0

    def view(self, namespace: str, clock: Clock | None = None) -> RedisStore:
        """The same Redis as seen by another namespace (one connection pool per process)."""
        return RedisStore(self.url, clock or self._clock, namespace=namespace, client=self._r)

    def ping(self) -> None:
        self._call(self._r.ping)

    def close(self) -> None:
        self._r.close()

    # -- plumbing -------------------------------------------------------------------------------
    @staticmethod
    def _call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as err:
            raise StoreUnavailableError(f"Redis is unavailable: {err}") from None

    def _command(self, *args: Any) -> Any:
        """One command of the request path on the single connection, sent and read directly:
        redis-py's own path wraps each call in a retry closure, timing and response callbacks, a
        quarter of a command's CPU (docs/performance.md). Same failure semantics: one retry on a
        fresh connection (the client's ``Retry(NoBackoff(), 1)``), then ``StoreUnavailableError``."""
        conn = self._r.connection
        with self._r.single_connection_lock:
            for attempt in (1, 2):
                try:
                    conn.send_command(*args)
                    return conn.read_response()
                except (redis.ConnectionError, redis.TimeoutError) as err:
                    conn.disconnect()
                    if attempt == 2:
                        raise StoreUnavailableError(f"Redis is unavailable: {err}") from None
        raise AssertionError("unreachable")

    def _script(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        """``EVALSHA`` through ``_command``; a Redis that lost its scripts (a restart) is given them again."""
        try:
            return self._command("EVALSHA", script.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            self._call(self._r.script_load, script.script)
            return self._command("EVALSHA", script.sha, len(keys), *keys, *args)

    def _pxat(self, expires_at: float) -> int | None:
        """The wall-clock millisecond Redis may drop a record expiring at ``expires_at`` (mock clock)."""
        if expires_at >= NEVER:
            return None
        return int((time.time() + max(0.0, expires_at - self._clock.now()) + GRACE) * 1000)

    def _decode(self, kind: str, data: bytes | None) -> Any:
        if data is None:
            return None
        try:
            return decode(kind, data)
        except (ValueError, TypeError):
            return None

    def _write(self, pipe: Any, kind: str, key: str, record: Any) -> None:
        spec = KINDS[kind]
        expires = spec.expires(record)
        pxat = self._pxat(expires)
        pipe.set(self._kinds[kind] + key, encode(record), pxat=pxat)
        pipe.zadd(f"{self._n}i/{kind}", {key: min(expires, NEVER)})
        grant_id = spec.grant(record) if kind == "access" else None
        if grant_id is not None:
            index = f"{self._n}g/{grant_id}"
            pipe.sadd(index, key)
            if pxat is not None:
                pipe.pexpireat(index, pxat, gt=True)
                pipe.pexpireat(index, pxat, nx=True)
        if kind == "client":
            pipe.hincrby(self._control, "clients_version", 1)

    # -- generic records ------------------------------------------------------------------------
    def put(self, kind: str, record: Any) -> None:
        """One Lua script (atomic, one round trip on the single connection): the record, its
        place in the kind's index, its grant's index; a registered client bumps the clients version."""
        spec = KINDS[kind]
        key, expires = spec.key(record), spec.expires(record)
        pxat = self._pxat(expires)
        grant_id = spec.grant(record) if kind == "access" else None
        self._script(self._put, keys=[self._kinds[kind] + key, f"{self._n}i/{kind}", self._control],
                     args=[encode(record), "" if pxat is None else pxat, key, min(expires, NEVER),
                           f"{self._n}g/{grant_id}" if grant_id else "", "1" if kind == "client" else "0"])
        self._writes += 1
        if self._writes >= 1024:
            self._writes = 0
            self.purge()

    def get(self, kind: str, key: str) -> Any:
        return self._decode(kind, self._command("GET", self._kinds[kind] + key))

    def take(self, kind: str, key: str) -> Any:
        pipe = self._r.pipeline(transaction=True)
        pipe.getdel(self._kinds[kind] + key)
        pipe.zrem(f"{self._n}i/{kind}", key)
        data, _ = self._call(pipe.execute)
        return self._decode(kind, data)

    def update(self, kind: str, key: str, change: Change) -> tuple[Any, Any]:
        name = self._kinds[kind] + key
        result: list[Any] = []

        def attempt(pipe: Any) -> None:
            before = self._decode(kind, pipe.get(name))
            after = change(before)
            result[:] = [before, after]
            if after is before:
                pipe.multi()
                return
            pipe.multi()
            if after is None:
                pipe.delete(name)
                pipe.zrem(f"{self._n}i/{kind}", key)
            else:
                self._write(pipe, kind, key, after)

        self._call(self._r.transaction, attempt, name)
        return result[0], result[1]

    def values(self, kind: str) -> list[Any]:
        ids = self._call(self._r.zrange, f"{self._n}i/{kind}", 0, -1)
        if not ids:
            return []
        rows = self._call(self._r.mget, [self._kinds[kind] + i.decode() for i in ids])
        return [r for r in (self._decode(kind, d) for d in rows) if r is not None]

    def revoke_grant(self, grant_id: str) -> None:
        """Revoke a grant and every access token issued from it, in one transaction."""
        grant_key, index = self._kinds["grant"] + grant_id, f"{self._n}g/{grant_id}"

        def attempt(pipe: Any) -> None:
            grant = self._decode("grant", pipe.get(grant_key))
            keys = [self._kinds["access"] + k.decode() for k in pipe.smembers(index)]
            tokens = [self._decode("access", d) for d in pipe.mget(keys)] if keys else []
            pipe.multi()
            if grant is None:
                return
            pipe.set(grant_key, encode(replace(grant, revoked=True, current_refresh=None)), keepttl=True)
            for name, token in zip(keys, tokens, strict=True):
                if token is not None:
                    pipe.set(name, encode(replace(token, revoked=True)), keepttl=True)

        self._call(self._r.transaction, attempt, grant_key, index)

    def purge(self) -> None:
        """Drop ids of records expired (by the mock clock, past the grace) from the kind indexes."""
        pipe = self._r.pipeline(transaction=False)
        for kind in KINDS:
            pipe.zremrangebyscore(f"{self._n}i/{kind}", "-inf", self._clock.now() - GRACE)
        self._call(pipe.execute)

    def _record_keys(self) -> list[bytes]:
        """The keys a reset deletes: every record, index and grant set but those of KEPT_BY_RESET."""
        kept = tuple(f"{self._n}{part}/{kind}".encode() for kind in KEPT_BY_RESET for part in ("r", "i"))
        keys: list[bytes] = []
        own = glob_escape(self._n)
        for pattern in (f"{own}r/*", f"{own}i/*", f"{own}g/*"):
            keys.extend(self._call(lambda p=pattern: list(self._r.scan_iter(match=p, count=1000))))
        return [key for key in keys if not key.startswith(kept)]

    def clear(self) -> None:
        """Forget every record of this namespace (``/_mock/reset``); signing keys stay."""
        keys = self._record_keys()
        pipe = self._r.pipeline(transaction=True)
        if keys:
            pipe.delete(*keys)
        pipe.hincrby(self._control, "clients_version", 1)
        self._call(pipe.execute)

    def sizes(self) -> dict[str, int]:
        pipe = self._r.pipeline(transaction=False)
        for kind in ("code", "grant", "access", "refresh"):
            pipe.zcard(f"{self._n}i/{kind}")
        codes, grants, access, refresh = self._call(pipe.execute)
        return {"codes": codes, "grants": grants, "access_tokens": access, "refresh_tokens": refresh}

    # -- shared control state -------------------------------------------------------------------
    def control(self) -> Control:
        offset, active, rules, keys, clients = self._command(
            "HMGET", self._control, "offset", "active", "rules_version", "keys_version", "clients_version")
        name = active.decode() if active is not None else NOT_SET
        return Control(offset=float(offset or 0.0), active=name if name != "" else None,
                       rules_version=int(rules or 0), keys_version=int(keys or 0), clients_version=int(clients or 0))

    def advance_clock(self, seconds: float) -> float:
        return float(self._call(self._r.hincrbyfloat, self._control, "offset", seconds))

    def set_clock(self, offset: float) -> None:
        self._call(self._r.hset, self._control, "offset", repr(float(offset)))

    def set_active(self, name: str | None) -> None:
        counters = self._n + "counters"

        def attempt(pipe: Any) -> None:
            stale = [k for k in pipe.hkeys(counters) if name is not None and k.decode().startswith(f"{name}:")]
            pipe.multi()
            pipe.hset(self._control, "active", name or "")
            if stale:
                pipe.hdel(counters, *stale)

        self._call(self._r.transaction, attempt, counters)

    def add_rule(self, data: str, limit: int, is_used_up: Callable[[str, int], bool]) -> int | None:
        rules, counters = self._n + "rules", self._n + "counters"
        result: list[int | None] = [None]

        def attempt(pipe: Any) -> None:
            current = {int(k): v.decode() for k, v in pipe.hgetall(rules).items()}
            done: list[int] = []
            if len(current) >= limit:
                uses = {k.decode(): int(v) for k, v in pipe.hgetall(counters).items()}
                done = [rid for rid, rule in current.items() if is_used_up(rule, uses.get(f"runtime:{rid}", 0))]
            if len(current) - len(done) >= limit:
                result[0] = None
                pipe.multi()
                return
            rule_id = int(pipe.hget(self._control, "next_rule") or 0) + 1
            result[0] = rule_id
            pipe.multi()
            if done:
                pipe.hdel(rules, *done)
            pipe.hset(self._control, "next_rule", rule_id)
            pipe.hset(rules, str(rule_id), data)
            pipe.hincrby(self._control, "rules_version", 1)

        self._call(self._r.transaction, attempt, rules, counters, self._control)
        return result[0]

    def rules(self) -> list[tuple[int, str]]:
        found = self._call(self._r.hgetall, self._n + "rules")
        return sorted((int(k), v.decode()) for k, v in found.items())

    def clear_rules(self) -> None:
        pipe = self._r.pipeline(transaction=True)
        pipe.delete(self._n + "rules")
        pipe.hincrby(self._control, "rules_version", 1)
        self._call(pipe.execute)

    def use_rule(self, key: str, times: int | None) -> bool:
        limit = times if times is not None else 2**62
        return bool(self._script(self._use_rule, keys=[self._n + "counters"], args=[key, limit]))

    def rule_uses(self) -> dict[str, int]:
        return {k.decode(): int(v) for k, v in self._call(self._r.hgetall, self._n + "counters").items()}

    def journal_append(self, entry: str, size: int) -> None:
        self._script(self._journal_append, keys=[self._n + "journal", self._base + "journal_id"], args=[entry, size])

    def journal(self, size: int) -> list[dict[str, Any]]:
        rows = self._call(self._r.lrange, self._n + "journal", -size, -1)
        entries = []
        for row in rows:
            entry_id, _, data = row.decode().partition(" ")
            entries.append({"id": int(entry_id), **json.loads(data)})
        return entries

    def journal_clear(self) -> None:
        self._call(self._r.delete, self._n + "journal")

    def signing_keys(self, alg: str) -> list[tuple[bytes, float | None]]:
        found = self._call(self._r.hgetall, f"{self._n}keys/{alg}")
        now = self._clock.now()
        keys = [json.loads(v) for v in found.values()]
        keys = [k for k in keys if k["retire_at"] is None or k["retire_at"] > now]
        keys.sort(key=lambda k: (k["retire_at"] is None, k["created_at"]))
        return [(k["pem"].encode(), k["retire_at"]) for k in keys]

    def init_keys(self, alg: str, pem: bytes, kid: str = "") -> None:
        name = f"{self._n}keys/{alg}"

        def attempt(pipe: Any) -> None:
            current = [v for v in pipe.hvals(name) if json.loads(v)["retire_at"] is None]
            pipe.multi()
            if not current:
                pipe.hset(name, kid, json.dumps({"pem": pem.decode(), "retire_at": None,
                                                 "created_at": self._clock.now()}))
                pipe.hincrby(self._control, "keys_version", 1)

        self._call(self._r.transaction, attempt, name)

    def rotate_keys(self, alg: str, pem: bytes, kid: str, retire_at: float) -> None:
        name = f"{self._n}keys/{alg}"
        now = self._clock.now()

        def attempt(pipe: Any) -> None:
            keys = {k: json.loads(v) for k, v in pipe.hgetall(name).items()}
            pipe.multi()
            for old_kid, key in keys.items():
                if key["retire_at"] is not None and key["retire_at"] <= now:
                    pipe.hdel(name, old_kid)
                elif key["retire_at"] is None:
                    pipe.hset(name, old_kid, json.dumps({**key, "retire_at": retire_at}))
            pipe.hset(name, kid, json.dumps({"pem": pem.decode(), "retire_at": None, "created_at": now}))
            pipe.hincrby(self._control, "keys_version", 1)

        self._call(self._r.transaction, attempt, name)

    def reset_state(self) -> None:
        """Forget records, runtime rules, counters, journal, clock offset and the chosen scenario."""
        keys = self._record_keys()
        pipe = self._r.pipeline(transaction=True)
        if keys:
            pipe.delete(*keys)
        pipe.delete(self._n + "rules", self._n + "counters", self._n + "journal")
        pipe.hdel(self._control, "offset", "active")
        pipe.hincrby(self._control, "rules_version", 1)
        pipe.hincrby(self._control, "clients_version", 1)
        self._call(pipe.execute)

    # -- namespaces (the root's registry) --------------------------------------------------------
    def _registry(self) -> str:
        return self._base + "namespaces"

    def ns_create(self, record: NamespaceRecord, limit: int, idle_ttl: float) -> str:
        registry = self._registry()
        result = ["ok"]
        idle: list[str] = []

        def attempt(pipe: Any) -> None:
            found = {k.decode(): NamespaceRecord(**json.loads(v)) for k, v in pipe.hgetall(registry).items()}
            idle[:] = [n for n, r in found.items() if r.used_at <= record.created_at - idle_ttl]
            live = {n: r for n, r in found.items() if n not in idle}
            pipe.multi()
            if idle:
                pipe.hdel(registry, *idle)
            if record.name in live:
                result[0] = "taken"
            elif len(live) >= limit:
                result[0] = "full"
            else:
                result[0] = "ok"
                pipe.hset(registry, record.name, json.dumps(record.__dict__))

        self._call(self._r.transaction, attempt, registry)
        for name in idle:
            self._drop_data(name)
        return result[0]

    def ns_get(self, name: str, now: float, idle_ttl: float) -> NamespaceRecord | None:
        data = self._call(self._r.hget, self._registry(), name)
        if data is None:
            return None
        record = NamespaceRecord(**json.loads(data))
        if record.used_at <= now - idle_ttl:
            self.ns_delete(name)
            return None
        return record

    def ns_touch(self, name: str, now: float) -> None:
        registry = self._registry()

        def attempt(pipe: Any) -> None:
            data = pipe.hget(registry, name)
            pipe.multi()
            if data is not None:
                record = json.loads(data)
                record["used_at"] = max(record["used_at"], now)
                pipe.hset(registry, name, json.dumps(record))

        self._call(self._r.transaction, attempt, registry)

    def ns_delete(self, name: str) -> bool:
        """Forget namespace ``name`` and its data (any left by an idle one too); False if unknown."""
        found = bool(self._call(self._r.hdel, self._registry(), name))
        self._drop_data(name)
        return found

    def ns_list(self, now: float, idle_ttl: float) -> list[NamespaceRecord]:
        found = [NamespaceRecord(**json.loads(v)) for v in self._call(self._r.hvals, self._registry())]
        return sorted((r for r in found if r.used_at > now - idle_ttl), key=lambda r: r.created_at)

    def _drop_data(self, name: str) -> None:
        pattern = glob_escape(f"{self._base}{name}/") + "*"
        keys = self._call(lambda: list(self._r.scan_iter(match=pattern, count=1000)))
        if keys:
            self._call(self._r.delete, *keys)


__all__ = ["RedisStore", "connect"]
