"""RoomHostCore: batching of deliveries per subscriber, without a cluster."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from partyray.actors import Delivery, RoomConfig, RoomHostCore, allow_all


class Recorder:
    """A subscriber that records batches and can be held back."""

    def __init__(self) -> None:
        self.batches: list[list[Delivery]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def deliver(self, host: str, incarnation: str, batch: list[Delivery]) -> None:
        await self.gate.wait()
        self.batches.append(batch)


async def send(handle: Any, host: str, incarnation: str, batch: list[Delivery]) -> Any:
    return await handle.deliver(host, incarnation, batch)


def make_core(limit: int = 100) -> RoomHostCore:
    return RoomHostCore(
        "shard/0", RoomConfig(check=allow_all), outbox_limit=limit, send=send
    )


async def test_messages_arriving_during_a_call_leave_in_one_batch() -> None:
    """While one call is in flight, everything else for that subscriber waits."""
    core = make_core()
    gateway = Recorder()
    core.subscribe("r1", "a", "gw", gateway, None)
    core.subscribe("r2", "b", "gw", gateway, None)
    gateway.gate.clear()
    core.publish([("r1", "a", 0, None, False)])
    await asyncio.sleep(0)
    core.publish([("r1", "a", i, None, False) for i in range(1, 4)])
    core.publish([("r2", "b", "x", None, False)])
    gateway.gate.set()
    await core.drain()
    assert [[(c, s) for c, s, _ in b] for b in gateway.batches] == [
        [("a", 1)],
        [("a", 2), ("a", 3), ("a", 4), ("b", 1)],
    ]
    stats = core.statistics()
    assert stats.delivery_calls == 2
    assert stats.deliveries == 5


async def test_slow_subscriber_loses_oldest_past_bound_and_others_get_all() -> None:
    """A held-back subscriber drops its oldest; a fast one gets everything."""
    core = make_core(limit=5)
    slow, fast = Recorder(), Recorder()
    core.subscribe("r", "c", "slow", slow, None)
    core.subscribe("r", "c", "fast", fast, None)
    slow.gate.clear()
    for i in range(20):
        core.publish([("r", "c", i, None, False)])
        await asyncio.sleep(0)
    slow.gate.set()
    await core.drain()
    fast_seqs = [s for b in fast.batches for _, s, _ in b]
    slow_seqs = [s for b in slow.batches for _, s, _ in b]
    assert fast_seqs == list(range(1, 21))
    assert slow_seqs[0] == 1
    assert slow_seqs[-5:] == [16, 17, 18, 19, 20]
    assert core.statistics().dropped_deliveries == 20 - len(slow_seqs)


async def test_gone_subscriber_is_dropped_from_every_table() -> None:
    """A subscriber whose call says it is gone is forgotten and counted."""

    class Gone:
        async def deliver(self, *args: Any) -> None:
            raise LookupError("no such actor")

    core = make_core()
    core.subscribe("r", "c", "dead", Gone(), None)
    core.subscribe("r", "d", "dead", Gone(), None)
    core.publish([("r", "c", 1, None, False)])
    await core.drain()
    assert core.room("r").subscribers() == set()
    stats = core.statistics()
    assert stats.dropped_subscribers == 1
    assert stats.subscribers == 0


async def test_publish_batch_returns_seqs_in_order_and_dedups() -> None:
    """A batch gets its seqs in order; a repeated id gets its first seq."""
    core = make_core()
    seqs = core.publish(
        [
            ("r", "a", 1, "m1", False),
            ("r", "b", 1, None, False),
            ("r", "a", 2, None, False),
            ("r", "a", 1, "m1", False),
        ]
    )
    assert seqs == [1, 1, 2, 1]


async def test_refused_client_publish_keeps_nothing() -> None:
    """A batch with a client publish that is not allowed is refused whole."""
    from partyray.partitioning.errors import SubscriptionRefused

    core = make_core()
    with pytest.raises(SubscriptionRefused):
        core.publish([("r", "a", 1, None, False), ("r", "a", 2, None, True)])
    assert core.room("r").latest("a") == 0


async def test_idle_rooms_are_evicted() -> None:
    """Idle rooms leave the host; busy ones stay."""
    now = [0.0]
    core = RoomHostCore(
        "shard/0",
        RoomConfig(idle_timeout=10.0, check=allow_all),
        clock=lambda: now[0],
        send=send,
    )
    core.room("quiet")
    core.subscribe("busy", "c", "gw", Recorder(), None)
    now[0] = 11.0
    assert core.evict_idle() == ["quiet"]
    assert core.rooms == 1
    assert core.statistics().evicted_rooms == 1
