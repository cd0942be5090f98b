"""The client and both publishers against a real gateway on a real Ray cluster."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from _client_fake_gateway import eventually

from partyray.gateway.client import Backoff, SubscriptionClient, SubscriptionRefused
from partyray.gateway.publisher import HttpPublisher, RayPublisher

gateway_api = pytest.importorskip("partyray.gateway")
GatewayConfig = getattr(gateway_api, "GatewayConfig", None)
GatewayGroup = getattr(gateway_api, "GatewayGroup", None)
if GatewayGroup is None:
    pytest.skip("the gateway group is not available yet", allow_module_level=True)

#: Scale of every wait against the real gateway, in seconds.
T = 0.1

SECRET = "s"
PUBLISH_TOKEN = "t"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def group(ray_cluster: None) -> Iterator[Any]:
    config = GatewayConfig(
        host="127.0.0.1",
        port=free_port(),
        partition="remult",
        publish_token=PUBLISH_TOKEN,
        auth_secret=SECRET,
        allow_client_publish=False,
    )
    started = GatewayGroup.start(config, count=1)
    try:
        yield started
    finally:
        started.stop()


def client(group: Any, **options: Any) -> SubscriptionClient:
    defaults: dict[str, Any] = {
        "grace": 3 * T,
        "backoff": Backoff(T / 2, 5 * T),
        "heartbeat": 20 * T,
        "heartbeat_timeout": 10 * T,
        "subscribe_timeout": 50 * T,
    }
    return SubscriptionClient(group.ws_url, **{**defaults, **options})


def http_publisher(group: Any, **options: Any) -> HttpPublisher:
    options.setdefault("backoff", Backoff(T / 2, 5 * T))
    return HttpPublisher(group.http_url, PUBLISH_TOKEN, **options)


def fresh(prefix: str) -> str:
    return f"{prefix}?roomId={uuid.uuid4().hex[:8]}"


def token_for(user: str) -> str:
    from partyray.gateway.auth import issue_token

    return issue_token(SECRET, user)


async def test_pool_one_socket_per_room_closed_after_grace(group: Any) -> None:
    """Two rooms give two sockets; both close once the grace period passes."""
    connection = await client(group).open_connection()
    room = uuid.uuid4().hex[:8]
    offs = [
        await connection.subscribe(f"{name}?roomId={room}{suffix}", print)
        for name, suffix in (("a", ""), ("b", ""), ("a", "-2"))
    ]
    assert connection.statistics().sockets_open == 2
    for off in offs:
        off()
    assert connection.statistics().sockets_open == 2
    await eventually(lambda: connection.statistics().sockets_open == 0, 30 * T)
    await connection.close()


async def test_ack_comes_before_subscribe_returns(group: Any) -> None:
    """A publish right after subscribe returns is always delivered."""
    connection = await client(group).open_connection()
    async with http_publisher(group) as publisher:
        for _ in range(10):
            channel = fresh("ack")
            got: list[Any] = []
            await connection.subscribe(channel, got.append)
            await publisher.publish(channel, "first")
            await eventually(lambda got=got: got == ["first"], 30 * T)
    await connection.close()


@pytest.mark.parametrize("user", [None, "bob"])
async def test_other_users_channel_is_forbidden(group: Any, user: str | None) -> None:
    """An anonymous or other-user connection cannot subscribe to alice's query."""
    token = token_for(user) if user else None
    connection = await client(group, token=token).open_connection()
    errors: list[BaseException] = []
    with pytest.raises(SubscriptionRefused) as caught:
        await connection.subscribe("users:alice:queries:q1", print, errors.append)
    assert caught.value.code == "forbidden"
    await eventually(lambda: len(errors) == 1, 10 * T)
    await connection.close()


async def test_own_channel_is_allowed_with_a_token(group: Any) -> None:
    """A JWT whose sub is alice lets alice subscribe to her query channel."""
    connection = await client(group, token=lambda: token_for("alice")).open_connection()
    got: list[Any] = []
    channel = f"users:alice:queries:{uuid.uuid4().hex}"
    await connection.subscribe(channel, got.append)
    async with http_publisher(group) as publisher:
        await publisher.publish(channel, [{"type": "all", "data": []}])
    await eventually(lambda: len(got) == 1, 30 * T)
    await connection.close()


async def test_wrong_room_is_refused(group: Any) -> None:
    """A room-bound socket refuses a channel of another room."""
    from partyray.partitioning import Fixed

    connection = await client(group, strategy=Fixed("room:elsewhere")).open_connection()
    with pytest.raises(SubscriptionRefused) as caught:
        await connection.subscribe(fresh("w"), print)
    assert caught.value.code == "wrong_room"
    await connection.close()


async def test_restart_under_subscribers_loses_nothing_silently(group: Any) -> None:
    """Across a gateway restart with publishes going on, every subscriber ends
    with every message once and in order, or has been told to reload."""
    channels = [fresh("r"), fresh("r")]
    subscribers: list[tuple[list[int], list[None]]] = []
    connections = []
    for mode in ("pooled", "multiplexed"):
        for channel in channels:
            reloads: list[None] = []
            got: list[int] = []
            connection = await client(group, mode=mode).open_connection(
                lambda reloads=reloads: reloads.append(None)
            )
            await connection.subscribe(channel, got.append)
            subscribers.append((got, reloads))
            connections.append(connection)

    total = 60
    async with http_publisher(group, attempts=30) as publisher:

        async def publish_all() -> None:
            for n in range(total):
                await publisher.publish_many([(c, n) for c in channels])
                await asyncio.sleep(T / 5)

        publishing = asyncio.create_task(publish_all())
        await asyncio.sleep(20 * T / 5)
        await asyncio.to_thread(group.restart, 0)
        await publishing

    def settled() -> bool:
        return all(got[-1:] == [total - 1] or reloads for got, reloads in subscribers)

    try:
        await eventually(settled, 100 * T)
    except AssertionError:
        for (got, reloads), connection in zip(subscribers, connections, strict=True):
            print(len(got), got[-3:], len(reloads), connection.statistics())
        raise
    for got, reloads in subscribers:
        assert got == sorted(set(got)), "out of order or duplicated"
        if not reloads:
            assert got == list(range(total)), "a silent gap"
    assert sum(c.statistics().reconnects for c in connections) >= len(connections)
    for connection in connections:
        await connection.close()


async def test_messages_published_while_the_gateway_is_down_are_replayed(
    group: Any,
) -> None:
    """Messages the room took while no gateway ran arrive after the reconnect,
    once each and in order, with no on_reconnect."""
    from partyray.actors import RoomDirectory
    from partyray.partitioning import RemultPartykit

    publisher = RayPublisher(RoomDirectory(RemultPartykit()))
    reloads: list[None] = []
    connection = await client(group).open_connection(lambda: reloads.append(None))
    channel = fresh("down")
    got: list[int] = []
    await connection.subscribe(channel, got.append)
    await publisher.publish(channel, 0)
    await eventually(lambda: got == [0], 30 * T)

    async def publish_during_restart() -> None:
        for n in range(1, 21):
            await publisher.publish(channel, n)
            await asyncio.sleep(T / 2)

    publishing = asyncio.create_task(publish_during_restart())
    await asyncio.to_thread(group.restart, 0)
    await publishing
    await eventually(lambda: got[-1:] == [20] or bool(reloads), 100 * T)
    assert reloads == []
    assert got == list(range(21))
    assert connection.statistics().reconnects == 1
    await connection.close()


async def test_ray_publisher_reaches_subscribers(group: Any) -> None:
    """The in-cluster publisher delivers through the room directory."""
    from partyray.actors import RoomDirectory
    from partyray.partitioning import RemultPartykit

    publisher = RayPublisher(RoomDirectory(RemultPartykit()))
    connection = await client(group).open_connection()
    channel = fresh("ray")
    got: list[Any] = []
    await connection.subscribe(channel, got.append)
    seqs = await publisher.publish_many([(channel, 1), (channel, 2)])
    assert seqs[1] == seqs[0] + 1
    await eventually(lambda: got == [1, 2], 30 * T)
    await connection.close()


@pytest.mark.parametrize("transport", ["http", "ray"])
async def test_same_id_twice_is_delivered_once(group: Any, transport: str) -> None:
    """A publish repeated with its id (a retry) gets the same seq, one delivery."""
    from partyray.actors import RoomDirectory
    from partyray.partitioning import RemultPartykit

    if transport == "http":
        publisher: Any = http_publisher(group)
    else:
        publisher = RayPublisher(RoomDirectory(RemultPartykit()))
    connection = await client(group).open_connection()
    channel = fresh("once")
    got: list[Any] = []
    await connection.subscribe(channel, got.append)
    message = {"channel": channel, "data": "x", "id": uuid.uuid4().hex}
    first = await publisher.publish_many([message])
    again = await publisher.publish_many([message])
    after = await publisher.publish(channel, "y")
    assert first == again
    assert after == first[0] + 1
    await eventually(lambda: got == ["x", "y"], 30 * T)
    await asyncio.sleep(3 * T)
    assert got == ["x", "y"]
    await publisher.aclose()
    await connection.close()


async def test_http_publish_with_a_wrong_token_is_refused(group: Any) -> None:
    """A 401 from the gateway raises PublishError at once."""
    from partyray.partitioning.errors import PublishError

    async with HttpPublisher(group.http_url, "wrong") as publisher:
        with pytest.raises(PublishError, match="http 401"):
            await publisher.publish("c", 1)
