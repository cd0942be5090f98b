"""The reconnect and retry delay schedule: capped exponential backoff, full jitter.

Attempt ``n`` (counted from 0) waits a uniformly random time in
``[0, min(cap, base * 2**n)]``. Full jitter spreads the clients of a restarted
gateway over the whole window instead of letting them return in waves, at the
price of an occasional very short wait. The schedule is a pure function of the
attempt number and a random source, so it is tested without any clock.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Backoff", "BackoffCounter"]


@dataclass(frozen=True)
class Backoff:
    """A capped exponential backoff with full jitter.

    ``base`` is the upper bound of the first delay and ``cap`` the largest
    delay ever returned, both in seconds. Both must be positive and
    ``base <= cap``; anything else raises :class:`ValueError`.
    """

    base: float = 0.25
    cap: float = 10.0

    def __post_init__(self) -> None:
        if not self.base > 0:
            raise ValueError("backoff base must be positive")
        if not self.cap >= self.base:
            raise ValueError("backoff cap must be at least its base")

    def bound(self, attempt: int) -> float:
        """The upper bound of the delay before attempt ``attempt`` (from 0)."""
        if attempt < 0:
            raise ValueError("attempt must not be negative")

        # Past 2**64 the product is above any sane cap anyway; stopping the
        # exponent there keeps the float finite for absurd attempt counts.
        return min(self.cap, self.base * 2.0 ** min(attempt, 64))

    def delay(
        self, attempt: int, uniform: Callable[[], float] = random.random
    ) -> float:
        """A delay in ``[0, bound(attempt)]``; ``uniform`` yields values in [0, 1)."""
        return self.bound(attempt) * uniform()


@dataclass
class BackoffCounter:
    """Counts consecutive failures and hands out the matching delays.

    Not thread-safe; one counter belongs to one reconnect loop.
    """

    backoff: Backoff
    uniform: Callable[[], float] = field(default=random.random)
    attempt: int = 0

    def next_delay(self) -> float:
        """The delay before the next attempt; each call counts one failure."""
        delay = self.backoff.delay(self.attempt, self.uniform)
        self.attempt += 1
        return delay

    def reset(self) -> None:
        """Forget the failures: the next delay is drawn from the first window."""
        self.attempt = 0
