"""``serve --watch``: reload the fixture files when they change (DESIGN §2).

The files are polled (size and modification time, twice a second) rather than watched with
inotify: polling also sees changes on the bind mounts of Docker Desktop, where file events
from the host never arrive, and an editor's save-by-rename. A file that does not load is
refused with one log line per problem; the server keeps its last good configuration, and a
reload never touches tokens, codes, the journal, runtime rules or the clock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from pathlib import Path
from typing import Any

from mock_op_auth.config.loader import FIXTURE_SUFFIXES, load_fixtures
from mock_op_auth.errors import FixtureError
from mock_op_auth.server import Server
from mock_op_auth.settings import Settings

log = logging.getLogger("mock_op_auth.watch")

Signature = tuple[tuple[str, int, int], ...]


def signature(path: Path) -> Signature:
    """What changes when a fixture file or a directory of them is edited, added or removed."""
    files = sorted(p for p in path.iterdir() if p.suffix in FIXTURE_SUFFIXES) if path.is_dir() else [path]
    rows: list[tuple[str, int, int]] = []
    for file in files:
        try:
            stat = file.stat()
        except OSError:
            rows.append((str(file), -1, -1))
            continue
        rows.append((str(file), stat.st_mtime_ns, stat.st_size))
    return tuple(rows)


def reload_once(server: Server, path: Path) -> bool:
    """Load ``path`` and hand it to the server; on failure log why and keep the old config."""
    try:
        config = load_fixtures(path)
    except FixtureError as err:
        for problem in err.problems:
            log.error("fixtures not reloaded, keeping the last good configuration: %s", problem)
        return False
    server.reload(config)
    log.info("fixtures reloaded from %s (%d clients, %d scenarios)", path, len(config.clients),
             len(config.scenarios))
    return True


async def watch_fixtures(server: Server, path: str | Path, interval: float = 0.5) -> None:
    """Poll ``path`` until cancelled; reload whenever its signature changes."""
    target = Path(path)
    seen = await asyncio.to_thread(signature, target)
    log.info("watching %s for changes", target)
    while True:
        await asyncio.sleep(interval)
        try:
            now = await asyncio.to_thread(signature, target)
        except OSError as err:
            log.error("cannot watch %s: %s", target, err)
            continue
        if now != seen:
            seen = now
            await asyncio.to_thread(reload_once, server, target)


def lifespan(server: Server, settings: Settings) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """The app's lifespan: with ``--watch`` and fixture files, poll them while the app runs."""

    @asynccontextmanager
    async def run(app: Any) -> AsyncIterator[None]:
        task = None
        if settings.watch and settings.fixtures:
            task = asyncio.create_task(watch_fixtures(server, settings.fixtures))
        elif settings.watch:
            log.warning("--watch has nothing to watch: no --fixtures given, the embedded default is served")
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task

    return run
