"""The reconnect delay schedule: capped, exponential, fully jittered."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from partyray.gateway._client_backoff import Backoff, BackoffCounter


def test_bounds_double_until_the_cap() -> None:
    """The window doubles with each attempt and stops at the cap."""
    backoff = Backoff(base=0.5, cap=3.0)
    assert [backoff.bound(n) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_huge_attempts_stay_finite() -> None:
    """An absurd attempt count still gives the cap, not an overflow."""
    assert Backoff(base=0.1, cap=7.0).bound(10_000) == 7.0


@given(
    base=st.floats(0.001, 10.0),
    factor=st.floats(1.0, 100.0),
    attempt=st.integers(0, 200),
    draw=st.floats(0.0, 1.0, exclude_max=True),
)
def test_delay_stays_within_its_window(
    base: float, factor: float, attempt: int, draw: float
) -> None:
    """Every delay lies in [0, min(cap, base * 2**attempt)]."""
    backoff = Backoff(base=base, cap=base * factor)
    delay = backoff.delay(attempt, lambda: draw)
    assert 0.0 <= delay <= min(backoff.cap, base * 2.0 ** min(attempt, 64))


def test_jitter_spreads_over_the_window() -> None:
    """Full jitter uses the whole window, not just its top."""
    rng = random.Random(7)
    delays = [Backoff(1.0, 8.0).delay(3, rng.random) for _ in range(2000)]
    assert max(delays) <= 8.0
    assert min(delays) < 0.5
    assert max(delays) > 7.5
    assert 3.5 < sum(delays) / len(delays) < 4.5


def test_counter_grows_and_resets() -> None:
    """The counter walks up the schedule and starts over after a reset."""
    counter = BackoffCounter(Backoff(1.0, 4.0), uniform=lambda: 0.999999)
    grown = [round(counter.next_delay()) for _ in range(4)]
    counter.reset()
    assert grown == [1, 2, 4, 4]
    assert round(counter.next_delay()) == 1


@pytest.mark.parametrize(
    ("base", "cap", "message"),
    [
        (0.0, 1.0, "backoff base must be positive"),
        (2.0, 1.0, "backoff cap must be at least its base"),
    ],
)
def test_bad_parameters_are_refused(base: float, cap: float, message: str) -> None:
    """A schedule that could not back off is refused when built."""
    with pytest.raises(ValueError, match=message):
        Backoff(base, cap)


def test_negative_attempt_is_refused() -> None:
    """Attempts count from zero."""
    with pytest.raises(ValueError, match="attempt must not be negative"):
        Backoff().bound(-1)
