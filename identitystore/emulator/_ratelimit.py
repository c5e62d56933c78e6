"""Auth0's rate-limit headers on every answer, and an opt-in limit per client per second."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["NOMINAL_LIMIT", "RateLimiter", "Window"]

#: The bucket the headers describe when no limit is set (never enforced then).
NOMINAL_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Window:
    """One request's place in its client's one-second window.

    Attributes:
        limit: requests allowed per second (``x-ratelimit-limit``).
        remaining: what is left of them after this one (``x-ratelimit-remaining``).
        reset: epoch seconds when the window refills (``x-ratelimit-reset``).
        exceeded: whether this request is over an enforced limit (answer 429).
        retry_after: whole seconds until the refill, at least 1 (``retry-after``).
    """

    limit: int
    remaining: int
    reset: int
    exceeded: bool
    retry_after: int

    def raw_headers(self) -> tuple[tuple[bytes, bytes], ...]:
        """The three ``x-ratelimit-*`` headers, as ASGI header pairs."""
        return (
            (b"x-ratelimit-limit", b"%d" % self.limit),
            (b"x-ratelimit-remaining", b"%d" % self.remaining),
            (b"x-ratelimit-reset", b"%d" % self.reset),
        )


class RateLimiter:
    """Counts each key's requests per wall-clock second (SDKs compare the reset with their time).

    Args:
        limit: requests per key per second; None counts without ever refusing.
        clock: epoch seconds (``time.time``); a test may pass its own.
    """

    def __init__(self, limit: int | None = None, *, clock: Callable[[], float] = time.time) -> None:
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
        ):
            raise ValueError("rate limit must be an integer >= 1 or None")
        self.limit = limit
        self._clock = clock
        self._counts: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> Window:
        """Count one request of ``key`` and say where it stands."""
        now = self._clock()
        second = math.floor(now)
        with self._lock:
            start, used = self._counts.get(key, (second, 0))
            used = used + 1 if start == second else 1
            self._counts[key] = (second, used)
            if len(self._counts) > 10_000:  # forget keys not seen this second
                self._counts = {k: v for k, v in self._counts.items() if v[0] == second}
        limit = self.limit if self.limit is not None else NOMINAL_LIMIT
        return Window(
            limit=limit,
            remaining=max(limit - used, 0),
            reset=second + 1,
            exceeded=self.limit is not None and used > self.limit,
            retry_after=max(1, math.ceil(second + 1 - now)),
        )
