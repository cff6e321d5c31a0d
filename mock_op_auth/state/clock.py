"""The mock clock: the only source of time, so a test can move every expiry check at once."""

from __future__ import annotations

import math
import time
from typing import Any

MAX_EPOCH = 253_402_300_799  # 9999-12-31T23:59:59Z: beyond it no date can be written
CLOCK_RANGE = f"the clock must stay between 0 and {MAX_EPOCH} (the year 9999)"


def readable(epoch: float) -> bool:
    """Whether the clock may read ``epoch``: finite, not before 1970 and not after the year 9999,
    so every expiry and every date the mock writes stays computable."""
    return math.isfinite(epoch) and 0 <= epoch <= MAX_EPOCH


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
