"""The mock clock: the only source of time, so a test can move every expiry check at once."""

from __future__ import annotations

import time


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
