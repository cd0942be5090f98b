"""Outbox: bounded pending deliveries that drop the oldest at the bound."""

from __future__ import annotations

import logging

import pytest

from partyray.actors import Outbox


def test_take_returns_everything_in_order_and_empties() -> None:
    """A flush takes every pending delivery, oldest first."""
    box = Outbox("gw", limit=10)
    for seq in (1, 2, 3):
        box.add(("c", seq, f"f{seq}"))
    assert [d[1] for d in box.take()] == [1, 2, 3]
    assert len(box) == 0
    assert box.take() == []


def test_bound_drops_oldest_and_counts(caplog: pytest.LogCaptureFixture) -> None:
    """At the bound the oldest pending delivery goes, and is logged and counted."""
    box = Outbox("gw-slow", limit=3)
    with caplog.at_level(logging.WARNING, logger="partyray.room"):
        for seq in range(1, 6):
            box.add(("c", seq, ""))
    assert [d[1] for d in box.take()] == [3, 4, 5]
    assert box.dropped == 2
    assert "outbox of gw-slow full at 3: dropped c seq 1" in caplog.text


def test_limit_must_be_positive() -> None:
    """An outbox that can hold nothing is refused."""
    with pytest.raises(ValueError, match="outbox limit must be at least 1"):
        Outbox("gw", limit=0)
