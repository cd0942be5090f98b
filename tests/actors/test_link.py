"""Links between a process and a host core, over real loopback TCP, without Ray."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgpack
import pytest

from partyray.actors import (
    Delivery,
    RoomConfig,
    RoomHostCore,
    SubscribeResult,
    allow_all,
)
from partyray.actors import link as link_module
from partyray.actors.link import HostLink, LinkClosed, LinkError, LinkServer
from partyray.partitioning.errors import PublishError, SubscriptionRefused


class Handle:
    """What a host calls when a subscriber has no link: records the batches."""

    def __init__(self) -> None:
        self.batches: list[list[Delivery]] = []


async def send(handle: Any, host: str, incarnation: str, batch: list[Delivery]) -> Any:
    handle.batches.append(batch)


class Host:
    """A host core and its link server on 127.0.0.1."""

    def __init__(self, core: RoomHostCore, server: LinkServer, port: int) -> None:
        self.core, self.server, self.port = core, server, port

    async def link(
        self, subscriber: str | None = None, secret: str | None = None
    ) -> tuple[HostLink, list[Delivery]]:
        got: list[Delivery] = []

        def on_deliver(host: str, incarnation: str, batch: list[Delivery]) -> None:
            assert host == self.core.name
            assert incarnation == self.core.incarnation
            got.extend(batch)

        link = await HostLink.open(
            self.core.name,
            ("127.0.0.1", self.port),
            self.server.secret if secret is None else secret,
            subscriber,
            on_deliver,
        )
        return link, got

    async def subscribed(self) -> tuple[Handle, HostLink, list[Delivery]]:
        """Subscriber "gw" on channel "c" of room "r", with its link open."""
        handle = Handle()
        self.core.subscribe("r", "c", "gw", handle, None)
        link, got = await self.link("gw")
        await until(lambda: self.core.statistics().links == 1)
        return handle, link, got


@pytest.fixture
async def host() -> AsyncIterator[Host]:
    core = RoomHostCore(
        "shard/0", RoomConfig(check=allow_all), outbox_limit=50, send=send
    )
    server = LinkServer(core)
    _, port = await server.start("127.0.0.1")
    yield Host(core, server, port)
    server.close()


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def test_publishes_and_deliveries_take_the_link(host: Host) -> None:
    """Seqs come back over the link, and so do the linked subscriber's deliveries."""
    handle, link, got = await host.subscribed()

    incarnation, seqs = await link.publish(
        [("r", "c", {"n": i}, None, False) for i in range(3)]
    )
    assert incarnation == host.core.incarnation
    assert seqs == [1, 2, 3]
    await until(lambda: len(got) == 3)
    assert [(c, s) for c, s, _ in got] == [("c", 1), ("c", 2), ("c", 3)]
    assert got[0][2] == '{"type":"data","channel":"c","data":{"n":0},"seq":1}'
    stats = host.core.statistics()
    assert stats.link_batches >= 1
    assert stats.delivery_calls == 0
    assert handle.batches == []
    link.close()


async def test_a_publisher_link_carries_no_deliveries(host: Host) -> None:
    """A link greeted without a subscriber only publishes; deliveries stay on Ray."""
    handle = Handle()
    host.core.subscribe("r", "c", "gw", handle, None)
    link, got = await host.link(None)
    _, seqs = await link.publish([("r", "c", "x", None, False)])
    assert seqs == [1]
    await host.core.drain()
    assert [[(c, s) for c, s, _ in b] for b in handle.batches] == [[("c", 1)]]
    assert got == []
    link.close()


async def test_wrong_secret_is_shut_out(host: Host) -> None:
    """A connection that doesn't know the secret is closed before it can publish."""
    link, _ = await host.link("gw", secret="not-the-secret")
    with pytest.raises(LinkClosed):
        await asyncio.wait_for(link.publish([("r", "c", "x", None, False)]), 5)
    assert host.core.statistics().links == 0
    assert host.core.statistics().published == 0


async def test_garbage_closes_only_that_link(host: Host) -> None:
    """Bytes that are not frames close their connection; other links carry on."""
    good, _ = await host.link("gw")
    reader, writer = await asyncio.open_connection("127.0.0.1", host.port)
    writer.write(msgpack.packb([0, host.server.secret, None]) + b"\xc1" * 8)
    assert await asyncio.wait_for(reader.read(100), 5) == b""  # closed by the host
    writer.close()
    _, seqs = await good.publish([("r", "c", "x", None, False)])
    assert seqs == [1]
    good.close()


async def test_malformed_request_closes_the_link(host: Host) -> None:
    """A well-framed value of the wrong shape is refused the same way."""
    link, _ = await host.link("gw")
    link.send([1, 7])  # PUBLISH without its requests
    await until(lambda: link.closed)


async def test_errors_come_back_as_themselves(host: Host) -> None:
    """A refusal raises itself; any other failure a PublishError naming it."""
    link, _ = await host.link(None)
    with pytest.raises(SubscriptionRefused, match="client publish is not allowed"):
        await link.publish([("r", "c", "x", None, True)])
    with pytest.raises(PublishError, match="not JSON serializable"):
        await link.publish([("r", "c", b"bytes are not JSON", None, False)])
    _, seqs = await link.publish([("r", "c", "x", None, False)])
    assert seqs == [1]
    link.close()


async def test_deliveries_fall_back_to_the_handle_when_the_link_goes(
    host: Host,
) -> None:
    """Once its link closes, a subscriber's deliveries go through its handle; none lost."""
    handle, link, got = await host.subscribed()
    host.core.publish([("r", "c", 1, None, False)])
    await until(lambda: len(got) == 1)
    link.close()
    await until(lambda: host.core.statistics().links == 0)
    host.core.publish([("r", "c", 2, None, False)])
    await host.core.drain()
    seqs = [s for _, s, _ in got] + [s for b in handle.batches for _, s, _ in b]
    assert seqs == [1, 2]


async def test_a_batch_too_large_for_a_link_goes_through_the_handle(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A frame past the link's bound is not written: the handle carries it."""
    handle, link, got = await host.subscribed()
    monkeypatch.setattr(link_module, "MAX_LINK_FRAME", 200)
    host.core.publish([("r", "c", "x" * 300, None, False)])
    await host.core.drain()
    assert [s for b in handle.batches for _, s, _ in b] == [1]
    assert got == []
    assert not link.closed
    link.close()


async def test_publish_waiting_when_the_link_closes_raises(host: Host) -> None:
    """A request whose answer can no longer come fails at once, not after a timeout."""
    link, _ = await host.link("gw")
    await until(lambda: host.core.statistics().links == 1)
    (end,) = host.core._links.values()
    assert end.transport is not None
    end.transport.pause_reading()  # the host never reads the request
    pending = asyncio.ensure_future(link.publish([("r", "c", "x", None, False)]))
    await asyncio.sleep(0.05)
    assert not pending.done()
    end.close()
    with pytest.raises(LinkClosed):
        await asyncio.wait_for(pending, 5)
    assert host.core.statistics().published == 0


async def test_a_gateway_that_stops_reading_costs_the_host_a_bounded_outbox(
    host: Host,
) -> None:
    """Back-pressure: unread deliveries stop at the socket, then drop oldest."""
    handle, link, _ = await host.subscribed()
    assert link.transport is not None
    link.transport.pause_reading()
    payload = "x" * 20_000
    published = 0
    # However much the kernel buffers, the writer stops at the high-water
    # mark soon after and the outbox (limit 50) starts dropping its oldest.
    while host.core.statistics().dropped_deliveries == 0:
        assert published < 5_000, "the outbox never filled"
        host.core.publish([("r", "c", payload, None, False)])
        published += 1
        await asyncio.sleep(0)
    stats = host.core.statistics()
    # Written out: what the socket and the link's buffer took, no more.
    assert stats.deliveries < published - 50
    assert handle.batches == []
    link.close()


async def test_a_silent_or_chatty_stranger_is_closed(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before its hello, a connection gets a few kilobytes and a few seconds."""
    chatty_reader, chatty = await asyncio.open_connection("127.0.0.1", host.port)
    # A msgpack string header promising a megabyte, then the start of it: closed
    # for its size, long before the 5 s allowed for a hello.
    chatty.write(b"\xdb\x00\x10\x00\x00" + b"x" * 8000)
    assert await asyncio.wait_for(chatty_reader.read(100), 1) == b""
    chatty.close()
    monkeypatch.setattr(link_module, "HELLO_TIMEOUT", 0.2)
    silent_reader, silent = await asyncio.open_connection("127.0.0.1", host.port)
    assert await asyncio.wait_for(silent_reader.read(100), 5) == b""
    silent.close()
    link, _ = await host.link(None)
    _, seqs = await link.publish([("r", "c", "x", None, False)])
    assert seqs == [1]
    link.close()


async def test_unsubscribe_over_the_link_takes_the_connection_off(host: Host) -> None:
    """An unsubscribe frame lowers the count; at zero the subscriber gets nothing."""
    handle = Handle()
    host.core.subscribe("r", "c", "gw", handle, None)
    host.core.subscribe("r", "c", "gw", handle, None)
    link, got = await host.link("gw")
    await until(lambda: host.core.statistics().links == 1)
    link.unsubscribe("r", "c", "gw", 1)
    _, seqs = await link.publish([("r", "c", "still one connection", None, False)])
    await until(lambda: len(got) == 1)
    link.unsubscribe("r", "c", "gw", 1)
    _, seqs = await link.publish([("r", "c", "nobody", None, False)])
    assert seqs == [2]
    await host.core.drain()
    await asyncio.sleep(0.05)
    assert [s for _, s, _ in got] == [1]
    (room,) = host.core.statistics().room_statistics
    assert room.subscribers == 0
    link.close()


async def test_subscriptions_of_a_known_subscriber_take_the_link() -> None:
    """Recovery, refusals and the ack come back over the link as from Ray."""
    core = RoomHostCore(
        "shard/0",
        RoomConfig(check=lambda channel, room, principal: channel != "closed"),
        send=send,
    )
    server = LinkServer(core)
    _, port = await server.start("127.0.0.1")
    handle = Handle()
    # The first subscription went through Ray, with the handle.
    first = core.subscribe("r", "c", "gw", handle, None)
    core.publish([("r", "c", n, None, False) for n in range(3)])
    link = await HostLink.open("shard/0", ("127.0.0.1", port), server.secret, "gw")
    incarnation, answers = await link.subscribe(
        [
            ("r", "c", "gw", None, 1, first.epoch),
            ("r", "closed", "gw", None, None, None),
        ]
    )
    assert incarnation == core.incarnation
    recovered, refused = answers
    assert isinstance(recovered, SubscribeResult)
    assert (recovered.seq, recovered.recovered, recovered.epoch) == (
        3,
        True,
        first.epoch,
    )
    assert [m.seq for m in recovered.missed] == [2, 3]
    assert recovered.missed[0].frame == '{"type":"data","channel":"c","data":1,"seq":2}'
    assert isinstance(refused, SubscriptionRefused)
    (room,) = core.statistics().room_statistics
    assert room.connections == 2  # the Ray one and the linked one
    # A subscriber the host never saw through Ray: no handle, so not here.
    with pytest.raises(LinkError, match="no handle"):
        await link.subscribe([("r", "c", "stranger", None, None, None)])
    assert core.statistics().subscribers == 1
    link.close()
    server.close()
