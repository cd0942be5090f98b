"""Coalescer: one call in flight per host; the rest leave together."""

from __future__ import annotations

import asyncio

import pytest

from partyray.actors.coalesce import Coalescer
from partyray.partitioning.errors import RoomUnavailable


async def test_lone_caller_goes_at_once_and_a_crowd_shares_calls() -> None:
    """The first request leaves alone; those that arrive meanwhile leave together."""
    calls: list[list[int]] = []
    gate = asyncio.Event()

    async def send(requests: list[int]) -> list[int | BaseException]:
        calls.append(requests)
        await gate.wait()
        return [r * 10 for r in requests]

    batches: Coalescer[int, int] = Coalescer("h", send, max_batch=3)
    first = asyncio.ensure_future(batches.submit(0))
    await asyncio.sleep(0)
    rest = [asyncio.ensure_future(batches.submit(i)) for i in range(1, 6)]
    await asyncio.sleep(0)
    gate.set()
    assert await first == 0
    assert await asyncio.gather(*rest) == [10, 20, 30, 40, 50]
    assert calls == [[0], [1, 2, 3], [4, 5]]


async def test_errors_reach_their_own_callers() -> None:
    """A per-request error goes to its caller; a failed call to all of its batch."""

    async def send(requests: list[int]) -> list[int | BaseException]:
        if 99 in requests:
            raise RoomUnavailable("host h is restarting")
        return [ValueError("odd") if r % 2 else r for r in requests]

    batches: Coalescer[int, int] = Coalescer("h", send)
    assert await batches.submit(2) == 2
    with pytest.raises(ValueError, match="odd"):
        await batches.submit(3)
    with pytest.raises(RoomUnavailable, match="restarting"):
        await batches.submit(99)


async def test_waiting_requests_are_bounded() -> None:
    """Past max_pending a caller is told at once that the host is overloaded."""
    gate = asyncio.Event()

    async def send(requests: list[int]) -> list[int | BaseException]:
        await gate.wait()
        return list(requests)

    batches: Coalescer[int, int] = Coalescer("h", send, max_pending=3)
    waiting = [asyncio.ensure_future(batches.submit(i)) for i in range(3)]
    await asyncio.sleep(0)
    with pytest.raises(RoomUnavailable, match="host h has 3 requests waiting"):
        await batches.submit(9)
    gate.set()
    assert await asyncio.gather(*waiting) == [0, 1, 2]
