"""Client behaviour against a scripted gateway: pooling, recovery, heartbeat."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from _client_fake_gateway import UNIT, eventually, fake_gateway

from partyray.gateway.client import Backoff, SubscriptionClient, SubscriptionRefused


def make_client(url: str, **options: Any) -> SubscriptionClient:
    defaults: dict[str, Any] = {
        "grace": 4 * UNIT,
        "backoff": Backoff(UNIT / 5, 2 * UNIT),
        "heartbeat": 20 * UNIT,
        "heartbeat_timeout": 10 * UNIT,
        "subscribe_timeout": 40 * UNIT,
    }
    return SubscriptionClient(url, **{**defaults, **options})


async def test_pool_opens_one_socket_per_room_and_closes_after_grace() -> None:
    """Channels of one room share a socket, which closes after the grace period."""
    async with fake_gateway() as gateway:
        connection = await make_client(gateway.url).open_connection()
        off = [
            await connection.subscribe(channel, print)
            for channel in ("a?roomId=r1", "b?roomId=r1", "a?roomId=r2")
        ]
        assert sorted(gateway.paths) == [
            "/party/main?room=room%3Ar1",
            "/party/main?room=room%3Ar2",
        ]
        assert connection.statistics().sockets_open == 2
        assert connection.statistics().subscriptions == 3

        # The room stays open while one of its channels is subscribed.
        off[0]()
        off[2]()
        await asyncio.sleep(8 * UNIT)
        assert connection.statistics().sockets_open == 1
        await eventually(lambda: gateway.open_sockets() == 1)

        # Coming back within the grace period reuses the socket.
        off[1]()
        await asyncio.sleep(UNIT)
        again = await connection.subscribe("c?roomId=r1", print)
        await asyncio.sleep(8 * UNIT)
        assert len(gateway.paths) == 2
        again()
        await eventually(lambda: connection.statistics().sockets_open == 0)
        await connection.close()


async def test_multiplexed_mode_uses_one_socket() -> None:
    """Every room goes over the one /ws socket."""
    async with fake_gateway() as gateway:
        connection = await make_client(
            gateway.url, mode="multiplexed"
        ).open_connection()
        for channel in ("a?roomId=r1", "users:u1:queries:q", "global"):
            await connection.subscribe(channel, print)
        assert gateway.paths == ["/ws"]
        await connection.close()


async def test_subscribe_returns_after_the_ack_and_token_is_sent() -> None:
    """The subscription is registered before subscribe returns, with the token."""
    async with fake_gateway() as gateway:
        client = make_client(gateway.url, token="tk")
        connection = await client.open_connection()
        got: list[Any] = []
        await connection.subscribe("chat?roomId=r1", got.append)
        assert gateway.subscribers["chat?roomId=r1"]
        assert gateway.paths[0].endswith("&token=tk")
        await gateway.publish("chat?roomId=r1", "hi")
        await eventually(lambda: got == ["hi"])
        await connection.close()


async def test_refusal_raises_and_reaches_on_error() -> None:
    """A refused channel raises SubscriptionRefused and calls on_error."""
    async with fake_gateway(refuse={"secret"}) as gateway:
        connection = await make_client(gateway.url).open_connection()
        errors: list[BaseException] = []
        with pytest.raises(SubscriptionRefused) as caught:
            await connection.subscribe("secret", print, errors.append)
        assert caught.value.code == "forbidden"
        await eventually(lambda: len(errors) == 1)
        assert connection.statistics().subscriptions == 0
        await connection.close()


async def test_a_gap_is_recovered_in_order() -> None:
    """A lost frame is fetched again with since; nothing is skipped or doubled."""
    async with fake_gateway() as gateway:
        connection = await make_client(gateway.url).open_connection()
        got: list[int] = []
        await connection.subscribe("c", got.append)
        for n in range(1, 11):
            await gateway.publish("c", n, lose=n in (3, 4, 8))
        await eventually(lambda: len(got) == 10)
        assert got == list(range(1, 11))
        stats = connection.statistics()
        assert stats.gaps_detected >= 1
        assert stats.recoveries_failed == 0
        assert any(f.get("since") == 2 for f in gateway.received)
        await connection.close()


async def test_reconnect_replays_the_missed_messages_once() -> None:
    """After a lost socket the client resumes where it was; no on_reconnect."""
    async with fake_gateway() as gateway:
        reconnects: list[None] = []
        connection = await make_client(gateway.url).open_connection(
            lambda: reconnects.append(None)
        )
        got: list[int] = []
        await connection.subscribe("c", got.append)
        await gateway.publish("c", 1)
        await eventually(lambda: got == [1])
        await gateway.drop_all()
        for n in range(2, 6):
            await gateway.publish("c", n)
        await eventually(lambda: got == [1, 2, 3, 4, 5])
        await gateway.publish("c", 6)
        await eventually(lambda: got == [1, 2, 3, 4, 5, 6])
        stats = connection.statistics()
        assert (stats.reconnects, stats.recoveries_failed) == (1, 0)
        assert reconnects == []
        await connection.close()


async def test_on_reconnect_fires_when_history_is_gone() -> None:
    """Messages beyond the room's history make on_reconnect fire, after the acks."""
    async with fake_gateway(history_limit=2) as gateway:
        seen: list[Any] = []
        connection = await make_client(gateway.url).open_connection(
            lambda: seen.append("reconnect")
        )
        await connection.subscribe("c", seen.append)
        await gateway.drop_all()
        for n in range(1, 6):
            await gateway.publish("c", n)
        await eventually(lambda: seen == ["reconnect"])
        await gateway.publish("c", 6)
        await eventually(lambda: seen == ["reconnect", 6])
        assert connection.statistics().recoveries_failed == 1
        await connection.close()


async def test_fire_on_every_reconnect() -> None:
    """With the option, on_reconnect fires after a fully recovered reconnect too."""
    async with fake_gateway() as gateway:
        seen: list[str] = []
        client = make_client(gateway.url, fire_on_every_reconnect=True)
        connection = await client.open_connection(lambda: seen.append("r"))
        await connection.subscribe("c", print)
        await gateway.drop_all()
        await eventually(lambda: seen == ["r"])
        await connection.close()


async def test_room_restart_resets_numbering() -> None:
    """A new epoch on resubscribe is a lost recovery; numbering starts over."""
    async with fake_gateway() as gateway:
        seen: list[Any] = []
        connection = await make_client(gateway.url).open_connection(
            lambda: seen.append("reconnect")
        )
        await connection.subscribe("c", seen.append)
        for n in (1, 2, 3):
            await gateway.publish("c", n)
        await eventually(lambda: seen == [1, 2, 3])
        await gateway.drop_all()
        gateway.restart_rooms()
        await eventually(lambda: seen == [1, 2, 3, "reconnect"])
        await gateway.publish("c", "new")
        await eventually(lambda: seen[-1] == "new")
        await connection.close()


async def test_silent_socket_is_replaced() -> None:
    """A socket that answers no ping is declared dead and reconnected."""
    async with fake_gateway(mute=True) as gateway:
        client = make_client(
            gateway.url, heartbeat=2 * UNIT, heartbeat_timeout=2 * UNIT
        )
        connection = await client.open_connection()
        await connection.subscribe("c", print)
        await eventually(lambda: connection.statistics().reconnects >= 1)
        assert len(gateway.paths) >= 2
        await connection.close()


async def test_token_callable_is_called_per_connect() -> None:
    """A token function is called again for every reconnect."""
    calls: list[int] = []

    async def token() -> str:
        calls.append(1)
        return f"t{len(calls)}"

    async with fake_gateway() as gateway:
        connection = await make_client(gateway.url, token=token).open_connection()
        await connection.subscribe("c", print)
        await gateway.drop_all()
        await eventually(lambda: len(gateway.paths) == 2)
        assert gateway.paths[0].endswith("token=t1")
        assert gateway.paths[1].endswith("token=t2")
        await connection.close()


async def test_callback_errors_are_logged_not_fatal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A raising on_message is logged and counted; delivery goes on."""
    async with fake_gateway() as gateway:
        connection = await make_client(gateway.url).open_connection()
        got: list[int] = []

        async def on_message(n: int) -> None:
            if n == 1:
                raise RuntimeError("boom")
            got.append(n)

        await connection.subscribe("c", on_message)
        with caplog.at_level(logging.ERROR, "partyray.client"):
            await gateway.publish("c", 1)
            await gateway.publish("c", 2)
            await eventually(lambda: got == [2])
        assert connection.statistics().callback_errors == 1
        assert "raised" in caplog.text
        await connection.close()


async def test_unreachable_gateway_times_out_the_subscribe() -> None:
    """No gateway: subscribe fails with RoomUnavailable after its timeout."""
    from partyray.partitioning.errors import RoomUnavailable

    client = make_client("http://127.0.0.1:9", subscribe_timeout=4 * UNIT)
    connection = await client.open_connection()
    with pytest.raises(RoomUnavailable, match="not acknowledged within"):
        await connection.subscribe("c", print)
    assert connection.statistics().subscriptions == 0
    await connection.close()


async def test_bounded_queue_slows_the_reader_without_loss() -> None:
    """A slow callback backs the queue up to its bound; everything arrives."""
    async with fake_gateway() as gateway:
        connection = await make_client(gateway.url, max_queue=4).open_connection()
        got: list[int] = []
        peak: list[int] = []

        async def slow(n: int) -> None:
            peak.append(connection.statistics().queued)
            await asyncio.sleep(UNIT / 20)
            got.append(n)

        await connection.subscribe("c", slow)
        for n in range(1, 41):
            await gateway.publish("c", n)
        await eventually(lambda: len(got) == 40)
        assert got == list(range(1, 41))
        assert max(peak) <= 4
        await connection.close()
