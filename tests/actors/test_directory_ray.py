"""The room directory on a real local Ray: get-or-create, fan-out, faults, placement."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest

from partyray.actors import (
    DirectoryConfig,
    PublishItem,
    RoomConfig,
    RoomDirectory,
    allow_all,
    shard_for,
)
from partyray.partitioning import Dedicated, RemultPartykit, WithRegion
from partyray.partitioning.errors import PlacementError, SubscriptionRefused

pytestmark = pytest.mark.usefixtures("ray_cluster")

_namespaces = iter(range(1_000_000))


def fresh_config(**overrides: Any) -> DirectoryConfig:
    """A directory configuration in a namespace of its own, so tests don't share hosts."""
    base: dict[str, Any] = {
        "namespace": f"test-{time.time_ns()}-{next(_namespaces)}",
        "shards": 2,
        "room": RoomConfig(check=allow_all),
        "ready_timeout": 10.0,
        "call_timeout": 10.0,
        "sweep_interval": 0.2,
    }
    base.update(overrides)
    return DirectoryConfig(**base)


def recorder() -> Any:
    """A small subscriber actor that records every batch it is handed."""
    import ray

    @ray.remote(num_cpus=0)
    class Recorder:
        def __init__(self) -> None:
            self.batches: list[list[tuple[str, int, str]]] = []

        async def deliver(self, host: str, incarnation: str, batch: list[Any]) -> None:
            self.batches.append(batch)

        async def seqs(self) -> dict[str, list[int]]:
            out: dict[str, list[int]] = {}
            for batch in self.batches:
                for channel, seq, _ in batch:
                    out.setdefault(channel, []).append(seq)
            return out

        async def calls(self) -> int:
            return len(self.batches)

    return Recorder.remote()


async def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def test_publish_fans_out_once_per_subscriber() -> None:
    """Each subscribed gateway gets every message once, numbered, in order."""
    directory = RoomDirectory(RemultPartykit(), fresh_config())
    a, b = recorder(), recorder()
    channel = "chat?roomId=r1"
    await directory.subscribe(channel, "gw-a", a, None)
    await directory.subscribe(channel, "gw-a", a, None)  # a second connection
    await directory.subscribe(channel, "gw-b", b, None)
    seqs = await directory.publish([PublishItem(channel, i) for i in range(50)])
    assert seqs == list(range(1, 51))

    async def both_done() -> bool:
        got = [await r.seqs.remote() for r in (a, b)]
        return all(g.get(channel) == list(range(1, 51)) for g in got)

    await wait_for(both_done)
    # Batched: far fewer calls than messages once messages queue up.
    assert await a.calls.remote() <= 50


async def test_batch_spans_rooms_of_one_host() -> None:
    """One publish call carries messages of several rooms and channels."""
    directory = RoomDirectory(RemultPartykit(), fresh_config(shards=1))
    sub = recorder()
    channels = [f"c?roomId=r{i}" for i in range(5)]
    for channel in channels:
        await directory.subscribe(channel, "gw", sub, None)
    await directory.publish([PublishItem(c, "x") for c in channels])

    async def done() -> bool:
        return sorted((await sub.seqs.remote()).items()) == [
            (c, [1]) for c in sorted(channels)
        ]

    await wait_for(done)
    assert await sub.calls.remote() == 1


async def test_since_recovers_through_the_directory() -> None:
    """History after `since` comes back with the subscription."""
    directory = RoomDirectory(RemultPartykit(), fresh_config())
    channel = "chat?roomId=hist"
    await directory.publish([PublishItem(channel, i) for i in range(5)])
    _, _, result = await directory.subscribe(channel, "gw", recorder(), None, since=2)
    assert result.recovered
    assert [m.seq for m in result.missed] == [3, 4, 5]
    complete, missed = await directory.history(channel, 4, result.epoch)
    assert complete
    assert [seq for _, seq, _ in missed] == [5]


async def test_retried_publish_with_id_is_delivered_once() -> None:
    """The same message id twice gives one delivery and the same seq."""
    directory = RoomDirectory(RemultPartykit(), fresh_config())
    sub = recorder()
    channel = "chat?roomId=dedup"
    await directory.subscribe(channel, "gw", sub, None)
    first = await directory.publish([PublishItem(channel, "x", "id-1")])
    again = await directory.publish([PublishItem(channel, "x", "id-1")])
    assert first == again == [1]
    await directory.publish([PublishItem(channel, "y")])

    async def done() -> bool:
        return (await sub.seqs.remote()).get(channel) == [1, 2]

    await wait_for(done)


async def test_refusal_crosses_the_actor_boundary() -> None:
    """A refused subscription raises SubscriptionRefused in the caller."""
    directory = RoomDirectory(RemultPartykit(), fresh_config(room=RoomConfig()))
    with pytest.raises(SubscriptionRefused) as refused:
        await directory.subscribe("users:alice:queries:q", "gw", recorder(), "bob")
    assert refused.value.code == "forbidden"


async def test_get_or_create_from_several_processes_yields_one_host() -> None:
    """Drivers racing on one room name all reach the same actor."""
    config = fresh_config(shards=1)
    script = textwrap.dedent(
        f"""
        import asyncio, ray
        from partyray.actors import DirectoryConfig, PublishItem, RoomDirectory, RoomConfig, allow_all
        from partyray.partitioning import Fixed
        ray.init(address="auto", namespace="x", log_to_driver=False)
        config = DirectoryConfig(namespace={config.namespace!r}, shards=1,
                                 room=RoomConfig(check=allow_all))
        async def main():
            directory = RoomDirectory(Fixed("race"), config)
            seqs = await directory.publish([PublishItem("c", i) for i in range(10)])
            handle = await directory.host(directory.locate(directory.strategy.resolve("c")))
            print("RESULT", handle._actor_id.hex(), max(seqs))
        asyncio.run(main())
        """
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    # Ray may print lines of its own (a raylet warning, say): keep ours.
    outputs = [
        next(
            line.split()[1:]
            for line in p.communicate(timeout=90)[0].splitlines()
            if line.startswith("RESULT ")
        )
        for p in procs
    ]
    assert all(p.returncode == 0 for p in procs)
    assert len({out[0] for out in outputs}) == 1
    assert sorted(int(out[1]) for out in outputs)[-1] == 30


async def test_host_survives_its_creator_and_restarts_with_new_incarnation() -> None:
    """Hosts are detached; a killed one comes back empty with a new incarnation."""
    import ray

    directory = RoomDirectory(RemultPartykit(), fresh_config())
    channel = "chat?roomId=fault"
    ref, incarnation, _ = await directory.subscribe(channel, "gw", recorder(), None)
    await directory.publish([PublishItem(channel, 1)])
    handle = await directory.host(ref)
    old_link = directory.link(ref)
    ray.kill(handle, no_restart=False)
    if old_link is not None:
        # Until the old process is gone, a request on its link still lands
        # in it (as a Ray call sent just before a crash would).

        async def gone() -> bool:
            return bool(old_link.closed)

        await wait_for(gone)
    # The call rides out the restart and lands in a fresh host.
    ref2, incarnation2, result = await directory.subscribe(
        channel, "gw", recorder(), None, since=1
    )
    assert ref2 == ref
    assert incarnation2 != incarnation
    assert not result.recovered
    assert result.seq == 0


async def linked(directory: RoomDirectory, channel: str) -> Any:
    """Wait until the directory's link to ``channel``'s host is open; return it."""
    _, ref = directory.resolve(channel)

    async def is_open() -> bool:
        return directory.link(ref) is not None

    await wait_for(is_open)
    return directory.link(ref)


async def test_an_attached_directory_takes_publishes_and_deliveries_off_ray() -> None:
    """Once the link is up, the host calls nobody: seqs and frames ride the link."""
    directory = RoomDirectory(RemultPartykit(), fresh_config(shards=1))
    got: list[tuple[str, int, str]] = []
    directory.attach("gw-linked", lambda host, incarnation, batch: got.extend(batch))
    channel = "chat?roomId=linked"
    gateway = recorder()
    await directory.subscribe(channel, "gw-linked", gateway, None)
    link = await linked(directory, channel)
    seqs = await directory.publish([PublishItem(channel, i) for i in range(20)])
    assert seqs == list(range(1, 21))

    async def all_here() -> bool:
        return [s for _, s, _ in got] == list(range(1, 21))

    await wait_for(all_here)
    assert link.publishes >= 1
    (stats,) = await directory.statistics()
    assert stats.links == 1
    assert stats.link_batches >= 1
    assert stats.delivery_calls == 0
    assert await gateway.calls.remote() == 0


async def test_later_subscriptions_take_the_link() -> None:
    """The first subscription goes through Ray with the handle; the next ones
    go over the link, and the messages of both channels arrive."""
    directory = RoomDirectory(RemultPartykit(), fresh_config(shards=1))
    got: list[tuple[str, int, str]] = []
    directory.attach("gw-s", lambda host, incarnation, batch: got.extend(batch))
    gateway = recorder()
    await directory.subscribe("chat?roomId=s1", "gw-s", gateway, None)
    link = await linked(directory, "chat?roomId=s1")
    assert link.subscriptions == 0
    _, _, result = await directory.subscribe("chat?roomId=s2", "gw-s", gateway, None)
    assert result.seq == 0
    assert link.subscriptions == 1
    await directory.publish(
        [PublishItem("chat?roomId=s1", "a"), PublishItem("chat?roomId=s2", "b")]
    )

    async def both() -> bool:
        return sorted(c for c, _, _ in got) == ["chat?roomId=s1", "chat?roomId=s2"]

    await wait_for(both)
    assert await gateway.calls.remote() == 0


async def test_with_links_off_everything_goes_through_ray() -> None:
    """``links=False``: no link is opened and the subscriber's handle gets it all."""
    directory = RoomDirectory(RemultPartykit(), fresh_config(shards=1, links=False))
    directory.attach("gw-unlinked", lambda host, incarnation, batch: None)
    channel = "chat?roomId=unlinked"
    gateway = recorder()
    ref, _, _ = await directory.subscribe(channel, "gw-unlinked", gateway, None)
    for i in range(5):
        await directory.publish([PublishItem(channel, i)])
    assert directory.link(ref) is None

    async def all_here() -> bool:
        return (await gateway.seqs.remote()).get(channel) == [1, 2, 3, 4, 5]

    await wait_for(all_here)
    (stats,) = await directory.statistics()
    assert (stats.links, stats.link_batches) == (0, 0)


async def test_a_link_to_a_killed_host_gives_way_to_ray_then_reopens() -> None:
    """The host dies under an open link: publishes go on and a new link opens."""
    import ray

    directory = RoomDirectory(RemultPartykit(), fresh_config(shards=1))
    got: list[tuple[str, int, str]] = []
    directory.attach("gw-k", lambda host, incarnation, batch: got.extend(batch))
    channel = "chat?roomId=killed"
    ref, first, _ = await directory.subscribe(channel, "gw-k", recorder(), None)
    old = await linked(directory, channel)
    ray.kill(await directory.host(ref), no_restart=False)

    async def closed() -> bool:
        return bool(old.closed)

    await wait_for(closed)
    # Rides out the restart through Ray; the new host numbers from 1.
    assert await directory.publish([PublishItem(channel, "after")]) == [1]
    _, second, _ = await directory.subscribe(channel, "gw-k", recorder(), None)
    assert second != first
    new = await linked(directory, channel)
    assert new is not old
    assert await directory.publish([PublishItem(channel, "again")]) == [2]

    async def delivered() -> bool:
        return any(s == 2 for _, s, _ in got)

    await wait_for(delivered)


def test_one_directory_serves_several_event_loops() -> None:
    """A link belongs to the loop that opened it; the next loop opens its own."""
    directory = RoomDirectory(RemultPartykit(), fresh_config(shards=1))
    channel = "chat?roomId=loops"

    async def publish_linked(n: int) -> list[int]:
        _, ref = directory.resolve(channel)
        await directory.publish([PublishItem(channel, "open")])

        async def is_open() -> bool:
            return directory.link(ref) is not None

        await wait_for(is_open)
        return await asyncio.wait_for(
            directory.publish([PublishItem(channel, i) for i in range(n)]), 10
        )

    assert asyncio.run(publish_linked(3)) == [2, 3, 4]
    assert asyncio.run(publish_linked(2)) == [6, 7]


async def test_dedicated_room_gets_its_own_actor_and_exits_when_idle() -> None:
    """A dedicated room is its own named actor; idle, it exits and is made again."""
    import ray

    strategy = Dedicated(RemultPartykit(), {"room:hot"})
    config = fresh_config(room=RoomConfig(check=allow_all, idle_timeout=0.5))
    directory = RoomDirectory(strategy, config)
    _, ref = directory.resolve("c?roomId=hot")
    assert ref.dedicated
    assert ref.name == "room/room:hot"
    assert await directory.publish([PublishItem("c?roomId=hot", 1)]) == [1]
    ray.get_actor(ref.name, namespace=config.namespace)

    def gone() -> bool:
        try:
            ray.get_actor(ref.name, namespace=config.namespace)
        except ValueError:
            return True
        return False

    deadline = time.monotonic() + 15
    while not gone() and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert gone()
    # The next use creates it again, numbering afresh.
    assert await directory.publish([PublishItem("c?roomId=hot", 2)]) == [1]


async def test_strict_region_nobody_has_fails_fast() -> None:
    """A strict placement in a region no node carries fails at once, clearly."""
    strategy = WithRegion(RemultPartykit(), lambda channel, room: "mars", strict=True)
    directory = RoomDirectory(strategy, fresh_config())
    started = time.monotonic()
    with pytest.raises(
        PlacementError, match="no node of the cluster is in region 'mars'"
    ):
        await directory.publish([PublishItem("c?roomId=r", 1)])
    assert time.monotonic() - started < 5


async def test_soft_region_nobody_has_is_placed_anyway() -> None:
    """A region hint that no node can honour is ignored, not fatal."""
    strategy = WithRegion(RemultPartykit(), lambda channel, room: "mars")
    directory = RoomDirectory(strategy, fresh_config())
    assert await directory.publish([PublishItem("c?roomId=r", 1)]) == [1]


def test_shard_choice_is_stable_and_spread() -> None:
    """Rendezvous hashing: stable, spread, and few moves when the pool grows."""
    rooms = [f"user:{i}" for i in range(2000)]
    four = [shard_for(r, 4) for r in rooms]
    assert four == [shard_for(r, 4) for r in rooms]
    counts = [four.count(s) for s in range(4)]
    assert min(counts) > 350
    five = [shard_for(r, 5) for r in rooms]
    moved = sum(1 for a, b in zip(four, five, strict=True) if a != b)
    assert moved < 2000 * 0.3
    assert all(b == 4 for a, b in zip(four, five, strict=True) if a != b)


def test_regional_rooms_get_a_pool_of_their_own() -> None:
    """Rooms with a region never share a shard with rooms of another placement."""
    strategy = WithRegion(
        RemultPartykit(), lambda channel, room: "eu" if room.endswith("eu") else None
    )
    directory = RoomDirectory(strategy, fresh_config(shards=1))
    _, plain = directory.resolve("c?roomId=here")
    _, regional = directory.resolve("c?roomId=there-eu")
    assert plain.name == "shard/0"
    assert regional.name == "shard/eu/0"
    assert regional.placement.region == "eu"
