"""``--state``: which store a server keeps its state in (DESIGN §11).

    (not given)            in memory, this process only
    PATH, sqlite:///PATH   SQLite (``sqlite:///rel/path`` relative, ``sqlite:////abs/path`` absolute)
    redis://HOST:PORT/DB   Redis (``rediss://`` for TLS), for replicas on several machines

A value that cannot be parsed is a ``StoreUrlError`` (the CLI exits 2); a store that cannot be
opened or reached is a ``StateError`` (exit 1).
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from mock_op_auth.state.clock import Clock
from mock_op_auth.state.store import RecordStore, StoreUnavailableError

SCHEMES = "a file path, sqlite:///PATH or redis://HOST:PORT/DB"


class StoreUrlError(ValueError):
    """A ``--state`` value that names no store this server knows."""


def shown(spec: str) -> str:
    """``spec`` as messages print it: a Redis URL's password masked."""
    try:
        parts = urlsplit(spec)
        if parts.password is None:
            return spec
    except ValueError:
        return spec
    netloc = f"{parts.username or ''}:***@{parts.netloc.rpartition('@')[2]}"
    return urlunsplit(parts._replace(netloc=netloc))


def _check_redis_options(spec: str) -> None:
    """What redis-py would refuse only at the first connection (``?db=abc``, ``?socket_timeout=x``,
    an option it does not know), refused now: a connection is made, not connected."""
    import redis

    from mock_op_auth.state.redis_store import split_prefix

    try:
        redis.ConnectionPool.from_url(split_prefix(spec)[0]).make_connection().disconnect()
    except (ValueError, TypeError) as err:
        raise StoreUrlError(f"{shown(spec)}: {err}") from None


def parse_state(spec: str) -> tuple[str, str]:
    """``("sqlite", path)`` or ``("redis", url)`` for a ``--state`` value."""
    if not spec.strip():
        raise StoreUrlError(f"--state is empty; give {SCHEMES}")
    if "://" not in spec:
        return "sqlite", spec
    scheme, _, rest = spec.partition("://")
    if scheme == "sqlite":
        if not rest.startswith("/") or not rest[1:].strip():
            raise StoreUrlError(f"{spec}: a SQLite URL is sqlite:///relative/path or sqlite:////absolute/path")
        return "sqlite", rest[1:]
    if scheme in ("redis", "rediss"):
        try:
            parts = urlsplit(spec)
            port = parts.port  # raises ValueError when it is not a number
        except ValueError as err:
            raise StoreUrlError(f"{shown(spec)}: {err}") from None
        if not parts.hostname:
            raise StoreUrlError(f"{shown(spec)}: a Redis URL needs a host: redis://HOST:PORT/DB")
        db = parts.path.strip("/")
        if db and not db.isdigit():
            raise StoreUrlError(f"{shown(spec)}: the database is a number (redis://HOST:PORT/0), not {db!r}")
        del port
        _check_redis_options(spec)
        return "redis", spec
    raise StoreUrlError(f"{spec}: unknown store {scheme}://; give {SCHEMES}")


def open_store(spec: str, clock: Clock) -> RecordStore:
    """Open the shared store ``spec`` names; StateError when it cannot be used now."""
    kind, target = parse_state(spec)
    if kind == "redis":
        from redis import RedisError

        from mock_op_auth.state.redis_store import RedisStore
        from mock_op_auth.state.sqlite import StateError

        try:
            store = RedisStore(target, clock)
            store.ping()
        except StoreUnavailableError as err:
            raise StateError(f"{shown(spec)}: cannot reach Redis: {err}") from None
        except RedisError as err:  # reached, and refused: a database index past the server's, a wrong password
            raise StateError(f"{shown(spec)}: Redis refused: {err}") from None
        return store
    from mock_op_auth.state.sqlite import SqliteStore

    return SqliteStore(target, clock)
