"""Gateways whose rooms allow client publish and signals; limits on connections."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import httpx
import pytest
import websockets
from gateway_kit import Client, gateway_config

from partyray.gateway import GatewayGroup, Limits


@pytest.fixture(scope="module")
def open_gateway(ray_cluster: None) -> Iterator[GatewayGroup]:
    """One gateway that allows client publish, with room for three connections."""
    config = gateway_config(
        allow_client_publish=True, limits=Limits(connections_per_gateway=3)
    )
    group = GatewayGroup.start(config, count=1)
    try:
        yield group
    finally:
        group.stop()


async def test_client_publish_is_numbered_and_delivered(
    open_gateway: GatewayGroup,
) -> None:
    """An allowed client publish reaches every subscriber, the sender included."""
    channel = "chat?roomId=cp"
    sender = await Client.connect(f"{open_gateway.ws_url}/party/main?room=room:cp")
    other = await Client.connect(f"{open_gateway.ws_url}/ws")
    await sender.subscribe(channel)
    await other.subscribe(channel)
    # remult-partykit's client sends both payload and data.
    await sender.send(
        {"type": "data", "channel": channel, "payload": "hi", "data": "hi"}
    )
    for client in (other, sender):
        assert await client.recv() == {
            "type": "data",
            "channel": channel,
            "data": "hi",
            "seq": 1,
        }
    # A room-bound connection publishes only into its own room.
    await sender.send({"type": "data", "channel": "chat?roomId=elsewhere", "data": 1})
    assert (await sender.recv())["code"] == "wrong_room"
    await sender.close()
    await other.close()


async def test_a_burst_of_client_publishes_keeps_its_order(
    open_gateway: GatewayGroup,
) -> None:
    """Publishes sent back to back by one connection are numbered in their order."""
    channel = "chat?roomId=burst"
    sender = await Client.connect(f"{open_gateway.ws_url}/ws")
    reader = await Client.connect(f"{open_gateway.ws_url}/ws")
    await reader.subscribe(channel)
    for n in range(200):
        await sender.send({"type": "data", "channel": channel, "data": n})
    got = [await reader.recv() for _ in range(200)]
    assert [(m["seq"], m["data"]) for m in got] == [(n + 1, n) for n in range(200)]
    # The sender, not subscribed, was sent nothing: no errors, no echoes.
    assert await sender.silent(0.3)
    await sender.close()
    await reader.close()


async def test_signal_reaches_a_connection_of_the_same_room(
    open_gateway: GatewayGroup,
) -> None:
    """A signal goes to the named connection of the same room, and nowhere else."""
    url = f"{open_gateway.ws_url}/parties/main/room:sig"
    alice = await Client.connect(f"{url}?_pk=alice-1")
    bob = await Client.connect(f"{url}?_pk=bob-1")
    await alice.send({"type": "signal", "id": "bob-1", "data": {"offer": 1}})
    assert await bob.recv() == {
        "type": "signal",
        "channel": "system",
        "from": "alice-1",
        "data": {"offer": 1},
    }
    await alice.send({"type": "signal", "id": "nobody", "data": 1})
    assert (await alice.recv())["code"] == "unavailable"
    await alice.close()
    await bob.close()


async def test_connection_limit_closes_with_1013(open_gateway: GatewayGroup) -> None:
    """Past the per-gateway connection limit a new socket is closed with 1013."""
    clients = [await Client.connect(f"{open_gateway.ws_url}/ws") for _ in range(3)]
    extra = await websockets.connect(f"{open_gateway.ws_url}/ws")
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await extra.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1013
    for client in clients:
        await client.close()


async def test_group_stop_closes_sockets_with_1001(ray_cluster: None) -> None:
    """Stopping a gateway says goodbye to every socket with 1001."""
    group = GatewayGroup.start(gateway_config(), count=1)
    client = await Client.connect(f"{group.ws_url}/ws")
    await client.subscribe("c?roomId=bye")
    await asyncio.to_thread(group.stop)
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await client.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1001


def test_a_picked_port_taken_meanwhile_is_picked_again(
    ray_cluster: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When another process binds the port a group picked, it picks another."""
    from partyray.gateway import launch

    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    taken = squatter.getsockname()[1]
    picks = iter([taken])
    real = launch.free_port
    monkeypatch.setattr(
        launch, "free_port", lambda host: next(picks, None) or real(host)
    )
    try:
        group = GatewayGroup.start(gateway_config(), count=1)
    finally:
        squatter.close()
    try:
        assert group.config.port != taken
        assert httpx.get(f"{group.http_url}/health", timeout=10).status_code == 200
    finally:
        group.stop()
