"""The mock clock: the only source of time, so a test can move every expiry check at once."""

from __future__ import annotations

import time
from typing import Any


class Clock:
    """Wall-clock time plus an offset that the control API moves (``advance``) or pins (``set``)."""

    def __init__(self) -> None:
        self.offset: float = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def now_int(self) -> int:
        return int(self.now())

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    def set(self, epoch: float) -> None:
        self.offset = epoch - time.time()

    def reset(self) -> None:
        self.offset = 0.0


class SharedClock(Clock):
    """The clock of processes sharing a store: the offset lives in the store (``bind``), every
    change is written there atomically, and ``Server.sync`` reads it at the start of each request."""

    def __init__(self) -> None:
        super().__init__()
        self._state: Any = None

    def bind(self, state: Any) -> None:
        self._state = state

    def advance(self, seconds: float) -> None:
        self.offset = self._state.advance_clock(seconds)

    def set(self, epoch: float) -> None:
        offset = epoch - time.time()
        self._state.set_clock(offset)
        self.offset = offset

    def reset(self) -> None:
        self._state.set_clock(0.0)
        self.offset = 0.0
