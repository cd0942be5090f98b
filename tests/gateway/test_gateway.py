"""The gateway end to end: real Ray, real uvicorn, real websockets clients."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

import httpx
import pytest
import websockets
from gateway_kit import AUTH_SECRET, PUBLISH_TOKEN, TIMEOUT, Client, gateway_config
from websockets.client import ClientProtocol
from websockets.frames import Close, Frame, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

from partyray.gateway import GatewayGroup, issue_token

AUTH = {"Authorization": f"Bearer {PUBLISH_TOKEN}"}


async def publish(
    group: GatewayGroup, body: object, **kwargs: object
) -> httpx.Response:
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        return await http.post(
            f"{group.http_url}/publish",
            content=json.dumps(body),
            headers=kwargs.pop("headers", AUTH),  # type: ignore[arg-type]
        )


async def test_subscribe_ack_publish_receive(gateway: GatewayGroup) -> None:
    """A subscriber is greeted, acknowledged, and gets what HTTP publishes."""
    client = await Client.connect(f"{gateway.ws_url}/ws")
    assert client.hello["type"] == "connected"
    assert client.hello["channel"] == "system"
    assert client.hello["payload"]["clientId"].startswith("c-")
    ack = await client.subscribe("chat?roomId=basic")
    assert ack["type"] == "connected"
    assert ack["channel"] == "chat?roomId=basic"
    assert ack["payload"]["subscribed"] is True
    assert ack["payload"]["seq"] == 0
    assert ack["payload"]["recovered"] is True
    response = await publish(
        gateway, {"channel": "chat?roomId=basic", "data": {"t": 1}}
    )
    assert response.status_code == 200
    assert response.json() == {"seqs": [1]}
    assert await client.recv() == {
        "type": "data",
        "channel": "chat?roomId=basic",
        "data": {"t": 1},
        "seq": 1,
    }
    await client.close()


async def test_two_shards_many_subscribers_get_each_message_once(
    gateway: GatewayGroup,
) -> None:
    """Subscribers spread over both gateways each get every message exactly once."""
    channel = "chat?roomId=shards"
    clients = [await Client.connect(f"{gateway.ws_url}/ws") for _ in range(16)]
    for client in clients:
        assert (await client.subscribe(channel))["payload"]["subscribed"]
    per_gateway = [s.connections for s in gateway.statistics()]
    assert all(n > 0 for n in per_gateway), per_gateway
    body = {"messages": [{"channel": channel, "data": i} for i in range(20)]}
    assert (await publish(gateway, body)).json() == {"seqs": list(range(1, 21))}
    for client in clients:
        frames = [await client.recv() for _ in range(20)]
        assert [f["seq"] for f in frames] == list(range(1, 21))
        assert [f["data"] for f in frames] == list(range(20))
        assert await client.silent(0.2)
    for client in clients:
        await client.close()


async def test_room_bound_socket_refuses_other_rooms(gateway: GatewayGroup) -> None:
    """A room-bound connection takes its room's channels and no other."""
    for url in (
        f"{gateway.ws_url}/party/main?room=room:bound",
        f"{gateway.ws_url}/parties/main/room:bound?_pk=conn-7",
    ):
        client = await Client.connect(url)
        ack = await client.subscribe("chat?roomId=bound")
        assert ack["payload"]["subscribed"]
        error = await client.subscribe("chat?roomId=other")
        assert error == {
            "type": "error",
            "channel": "chat?roomId=other",
            "error": "channel belongs to room 'room:other', not 'room:bound'",
            "code": "wrong_room",
        }
        await client.close()
    pk = await Client.connect(f"{gateway.ws_url}/parties/main/room:bound?_pk=conn-7")
    assert pk.hello["payload"]["clientId"] == "conn-7"
    await pk.close()


async def test_other_users_channel_is_forbidden_and_never_leaks(
    gateway: GatewayGroup,
) -> None:
    """Only alice's token subscribes to alice's channel; others get nothing."""
    channel = "users:alice:queries:5b1f"
    alice = await Client.connect(
        f"{gateway.ws_url}/ws?token={issue_token(AUTH_SECRET, 'alice')}"
    )
    bob = await Client.connect(
        f"{gateway.ws_url}/ws",
        additional_headers={
            "Authorization": f"Bearer {issue_token(AUTH_SECRET, 'bob')}"
        },
    )
    anonymous = await Client.connect(f"{gateway.ws_url}/ws")
    assert (await alice.subscribe(channel))["payload"]["subscribed"]
    for intruder in (bob, anonymous):
        refused = await intruder.subscribe(channel)
        assert refused["type"] == "error"
        assert refused["code"] == "forbidden"
        assert refused["channel"] == channel
        # A short reason, never the room host's traceback.
        assert refused["error"] == f"subscription to {channel!r} refused"
    await publish(gateway, {"channel": channel, "data": "secret"})
    assert (await alice.recv())["data"] == "secret"
    assert await bob.silent()
    assert await anonymous.silent()
    # Anonymous live queries are open to anonymous connections.
    assert (await anonymous.subscribe("users:undefined:queries:9c2e"))["payload"][
        "subscribed"
    ]
    for client in (alice, bob, anonymous):
        await client.close()


async def test_bad_token_is_refused_at_the_handshake(gateway: GatewayGroup) -> None:
    """A token that does not verify gets HTTP 401, not a connection."""
    forged = issue_token("not-the-secret", "alice")
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(f"{gateway.ws_url}/ws?token={forged}")
    assert refused.value.response.status_code == 401


async def test_since_recovers_when_history_reaches_back(gateway: GatewayGroup) -> None:
    """With since inside the history, every missed message follows the ack."""
    channel = "chat?roomId=since-ok"
    first = await Client.connect(f"{gateway.ws_url}/ws")
    ack = await first.subscribe(channel)
    await publish(
        gateway, {"messages": [{"channel": channel, "data": i} for i in range(3)]}
    )
    assert [(await first.recv())["seq"] for _ in range(3)] == [1, 2, 3]
    await first.close()
    await publish(
        gateway, {"messages": [{"channel": channel, "data": i} for i in range(2)]}
    )
    again = await Client.connect(f"{gateway.ws_url}/ws")
    ack = await again.subscribe(channel, since=3, epoch=ack["payload"]["epoch"])
    assert ack["payload"] == {
        "subscribed": True,
        "seq": 5,
        "recovered": True,
        "epoch": ack["payload"]["epoch"],
    }
    assert [(await again.recv())["seq"] for _ in range(2)] == [4, 5]
    await publish(gateway, {"channel": channel, "data": "new"})
    assert (await again.recv())["seq"] == 6
    await again.close()


async def test_since_beyond_history_says_not_recovered(gateway: GatewayGroup) -> None:
    """With since older than the history, the ack says recovered false."""
    channel = "chat?roomId=since-gone"
    client = await Client.connect(f"{gateway.ws_url}/ws")
    await publish(
        gateway, {"messages": [{"channel": channel, "data": i} for i in range(9)]}
    )
    ack = await client.subscribe(channel, since=1)
    assert ack["payload"]["recovered"] is False
    assert ack["payload"]["seq"] == 9
    assert await client.silent(0.3)
    stale = await client.subscribe(channel, since=9, epoch="some-other-life")
    assert stale["payload"]["recovered"] is False
    await client.close()


async def test_ping_gets_pong(gateway: GatewayGroup) -> None:
    """The raw text ping is answered on the system channel."""
    client = await Client.connect(f"{gateway.ws_url}/ws")
    await client.send("ping")
    assert await client.recv() == {"type": "pong", "channel": "system"}
    await client.close()


async def test_malformed_frames_get_errors_and_keep_the_connection(
    gateway: GatewayGroup,
) -> None:
    """Broken frames get bad_request on system; the connection stays usable."""
    client = await Client.connect(f"{gateway.ws_url}/ws")
    await client.send("{not json")
    assert await client.recv() == {
        "type": "error",
        "channel": "system",
        "error": "frame is not valid JSON",
        "code": "bad_request",
    }
    await client.ws.send(b"\x00\x01binary")
    assert (await client.recv())["error"] == "binary frames are not supported"
    await client.send({"type": "remult:subscribe"})
    assert (await client.recv())["error"] == "frame needs a non-empty string channel"
    assert (await client.subscribe("chat?roomId=ok"))["payload"]["subscribed"]
    await client.close()


async def test_repeated_protocol_errors_close_with_1008(gateway: GatewayGroup) -> None:
    """Past the protocol-error limit the connection is closed with 1008."""
    client = await Client.connect(f"{gateway.ws_url}/ws")
    for _ in range(4):
        await client.send("[]")
    with pytest.raises(websockets.ConnectionClosed) as closed:
        for _ in range(10):
            await client.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008


async def test_oversized_frame_closes_with_1009(gateway: GatewayGroup) -> None:
    """A frame over the size limit closes the connection with 1009."""
    client = await Client.connect(f"{gateway.ws_url}/ws")
    await client.send("x" * 5000)
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await client.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009


async def test_subscription_limit_is_an_overloaded_error(gateway: GatewayGroup) -> None:
    """More subscriptions than allowed get overloaded, and are not made."""
    client = await Client.connect(f"{gateway.ws_url}/ws")
    for i in range(3):
        assert (await client.subscribe(f"c?roomId=lim{i}"))["type"] == "connected"
    error = await client.subscribe("c?roomId=lim3")
    assert error["code"] == "overloaded"
    await client.close()


async def test_unknown_channel_is_refused(ray_cluster: None) -> None:
    """A channel the strategy cannot place gets unknown_channel."""
    group = GatewayGroup.start(gateway_config(partition="entity"), count=1)
    try:
        client = await Client.connect(f"{group.ws_url}/ws")
        error = await client.subscribe("users:u1:queries:q")
        assert error["code"] == "unknown_channel"
        assert (await client.subscribe("/api/Tasks"))["type"] == "connected"
        await client.close()
    finally:
        group.stop()


def stalled_subscriber(
    host: str, port: int, channel: str
) -> tuple[socket.socket, ClientProtocol]:
    """A raw socket that subscribes to ``channel`` and then never reads again."""
    protocol = ClientProtocol(parse_uri(f"ws://{host}:{port}/ws"))
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, port))
    sock.settimeout(TIMEOUT)
    protocol.send_request(protocol.connect())
    sock.sendall(b"".join(protocol.data_to_send()))
    while protocol.state is not State.OPEN:
        protocol.receive_data(sock.recv(4096))
    subscribe = {"type": "remult:subscribe", "channel": channel}
    protocol.send_text(json.dumps(subscribe).encode())
    sock.sendall(b"".join(protocol.data_to_send()))
    # Read until the subscription is acknowledged, then stop reading for good.
    while True:
        for event in protocol.events_received():
            if isinstance(event, Frame) and b'"subscribed"' in event.data:
                return sock, protocol
        protocol.receive_data(sock.recv(4096))


def close_code_of(sock: socket.socket, protocol: ClientProtocol) -> int | None:
    """Read ``sock`` to its end and return the close code the server sent."""
    while True:
        data = sock.recv(65536)
        if not data:
            return None
        protocol.receive_data(data)
        for event in protocol.events_received():
            if isinstance(event, Frame) and event.opcode is Opcode.CLOSE:
                return Close.parse(event.data).code


async def test_slow_consumer_is_closed_with_1013_and_others_keep_going(
    gateway: GatewayGroup,
) -> None:
    """A consumer that stops reading is closed with 1013; a reader gets all."""
    channel = "chat?roomId=slow"
    host, port = gateway.config.host, gateway.config.port
    slow, protocol = await asyncio.to_thread(stalled_subscriber, host, port, channel)
    fast = await Client.connect(f"{gateway.ws_url}/ws")
    await fast.subscribe(channel)
    closes_before = sum(s.slow_consumer_closes for s in gateway.statistics())
    payload = "y" * 7000
    reader: asyncio.Future[int | None] | None = None
    for round_ in range(200):
        body = {"messages": [{"channel": channel, "data": payload}] * 8}
        assert (await publish(gateway, body)).status_code == 200
        for _ in range(8):
            assert (await fast.recv())["data"] == payload
        # Once the gateway gave up on it, the stalled client reads again: the
        # close frame waits behind its backlog, for a few seconds at most.
        if reader is None and round_ % 10 == 9:
            stats = await asyncio.to_thread(gateway.statistics)
            if sum(s.slow_consumer_closes for s in stats) > closes_before:
                reader = asyncio.ensure_future(
                    asyncio.to_thread(close_code_of, slow, protocol)
                )
    assert reader is not None, "the stalled consumer was never closed"
    assert await reader == 1013
    slow.close()
    await fast.close()


async def test_publish_errors(gateway: GatewayGroup) -> None:
    """Wrong or missing tokens get 401, bad bodies 400 with a reason, big ones 413."""
    good = {"channel": "c?roomId=p", "data": 1}
    assert (await publish(gateway, good, headers={})).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    response = await publish(gateway, good, headers=wrong)
    assert response.status_code == 401
    assert response.json() == {"error": "missing or wrong publish token"}
    cases = [
        ([1, 2], "body must be a JSON object"),
        ({"data": 1}, "body needs channel and data, or messages"),
        ({"channel": "c", "dat": 1}, "body.data is missing"),
        ({"messages": []}, "messages must be a non-empty list"),
        (
            {"messages": [{"channel": 5, "data": 1}]},
            "messages[0].channel must be a non-empty string",
        ),
        (
            {"messages": [{"channel": "c", "data": 1, "id": 7}]},
            "messages[0].id must be a string",
        ),
    ]
    for body, text in cases:
        response = await publish(gateway, body)
        assert response.status_code == 400, body
        assert response.json() == {"error": text}
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        response = await http.post(
            f"{gateway.http_url}/publish", content=b"{oops", headers=AUTH
        )
        assert response.status_code == 400
        assert response.json() == {"error": "body is not valid JSON"}
        big = {"channel": "c", "data": "z" * 70_000}
        response = await http.post(
            f"{gateway.http_url}/publish", content=json.dumps(big), headers=AUTH
        )
        assert response.status_code == 413
        assert response.json() == {"error": "body exceeds 65536 bytes"}


async def test_party_publish_endpoint_checks_the_room(gateway: GatewayGroup) -> None:
    """POST /parties/{party}/{room} publishes only into that room."""
    client = await Client.connect(f"{gateway.ws_url}/ws")
    await client.subscribe("chat?roomId=pp")
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        ok = await http.post(
            f"{gateway.http_url}/parties/main/room:pp",
            json={"channel": "chat?roomId=pp", "data": "hi"},
            headers=AUTH,
        )
        assert ok.json() == {"seqs": [1]}
        wrong = await http.post(
            f"{gateway.http_url}/parties/main/room:pp",
            json={"channel": "chat?roomId=elsewhere", "data": "hi"},
            headers=AUTH,
        )
        assert wrong.status_code == 400
    assert (await client.recv())["data"] == "hi"
    await client.close()


async def test_retried_publish_id_is_delivered_once(gateway: GatewayGroup) -> None:
    """The same message id published twice is delivered once."""
    channel = "chat?roomId=dedup"
    client = await Client.connect(f"{gateway.ws_url}/ws")
    await client.subscribe(channel)
    body = {"messages": [{"channel": channel, "data": "once", "id": "msg-1"}]}
    assert (await publish(gateway, body)).json() == {"seqs": [1]}
    assert (await publish(gateway, body)).json() == {"seqs": [1]}
    assert (await client.recv())["seq"] == 1
    assert await client.silent(0.3)
    await client.close()


async def test_client_publish_is_forbidden_by_default(gateway: GatewayGroup) -> None:
    """Without --allow-client-publish, data and signal frames are refused."""
    client = await Client.connect(f"{gateway.ws_url}/ws")
    await client.send({"type": "data", "channel": "chat?roomId=cp", "data": 1})
    error = await client.recv()
    assert (error["code"], error["error"]) == (
        "forbidden",
        "client publish is not allowed",
    )
    await client.send({"type": "signal", "id": "someone", "data": 1})
    assert (await client.recv())["code"] == "forbidden"
    await client.close()


async def test_health_and_metrics(gateway: GatewayGroup) -> None:
    """Health says ok while Ray answers; metrics speak Prometheus text."""
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        health = await http.get(f"{gateway.http_url}/health")
        assert health.status_code == 200
        assert health.json()["status"] == "ok"
        assert health.json()["ray"] is True
        metrics = await http.get(f"{gateway.http_url}/metrics")
    assert metrics.status_code == 200
    text = metrics.text
    for name in (
        "partyray_connections",
        "partyray_subscriptions",
        "partyray_frames_in_total",
        "partyray_frames_out_total",
        "partyray_deliveries_out_total",
        "partyray_dropped_total",
        "partyray_slow_consumer_closes_total",
        "partyray_publish_latency_seconds_bucket",
    ):
        assert f"\n{name}" in text or text.startswith(name), name


async def subscribed_with_host(
    gateway: GatewayGroup, channel: str
) -> tuple[Client, Any]:
    """A client subscribed to ``channel``, and the handle of its room's host."""
    from partyray.actors import RoomDirectory

    client = await Client.connect(f"{gateway.ws_url}/ws")
    await client.subscribe(channel)
    config = gateway.config
    directory = RoomDirectory(config.strategy(), config.directory_config())
    _, ref = directory.resolve(channel)
    return client, await directory.host(ref)


async def publish_until_linked(
    gateway: GatewayGroup, client: Client, channel: str, host: Any
) -> int:
    """Publish until a message reaches ``client`` over a link; return how many.

    Every one of them must arrive, in order, whichever way it went.
    """
    before = (await host.statistics.remote()).link_batches
    sent = 0
    deadline = time.monotonic() + TIMEOUT
    while True:
        sent += 1
        response = await publish(gateway, {"channel": channel, "data": sent})
        assert response.status_code == 200
        assert (await client.recv())["data"] == sent
        stats = await host.statistics.remote()
        if stats.link_batches > before:
            return sent
        assert time.monotonic() < deadline, "the gateway never linked to its room"
        await asyncio.sleep(0.05)


async def test_deliveries_reach_the_gateway_over_its_link(
    gateway: GatewayGroup,
) -> None:
    """Once the gateway's link is open, the host delivers without a Ray call."""
    channel = "chat?roomId=linked"
    client, host = await subscribed_with_host(gateway, channel)
    await publish_until_linked(gateway, client, channel, host)
    before = await host.statistics.remote()
    for n in range(5):
        response = await publish(gateway, {"channel": channel, "data": n})
        assert response.status_code == 200
    assert [(await client.recv())["data"] for _ in range(5)] == [0, 1, 2, 3, 4]
    after = await host.statistics.remote()
    assert after.delivery_calls == before.delivery_calls
    assert after.link_batches > before.link_batches
    # The gateways say so too (the client is on one of the two).
    stats = await asyncio.to_thread(gateway.statistics)
    assert sum(g.links for g in stats) >= 1
    assert sum(g.link_deliveries for g in stats) >= 5
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        text = (await http.get(f"{gateway.http_url}/metrics")).text
    assert "# TYPE partyray_links gauge" in text
    assert "# TYPE partyray_link_deliveries_total counter" in text
    await client.close()


async def test_a_reset_link_is_opened_again_and_nothing_is_lost(
    gateway: GatewayGroup,
) -> None:
    """The host closes its links: the gateway links again by itself, no message lost."""
    channel = "chat?roomId=relinked"
    client, host = await subscribed_with_host(gateway, channel)

    first = await publish_until_linked(gateway, client, channel, host)
    assert await host.reset_links.remote() >= 1
    # Published while the link is down go through Ray; the gateway's watch
    # links again by itself, and numbering goes on without a gap.
    channel_seq = first
    channel_seq += await publish_until_linked(gateway, client, channel, host)
    response = await publish(gateway, {"channel": channel, "data": "last"})
    assert response.status_code == 200
    last = await client.recv()
    assert (last["seq"], last["data"]) == (channel_seq + 1, "last")
    await client.close()


async def test_room_restart_is_noticed_and_told(gateway: GatewayGroup) -> None:
    """A killed room host comes back; subscribers get recovered=false, then data."""
    import ray

    from partyray.actors import RoomDirectory

    channel = "chat?roomId=restart"
    client = await Client.connect(f"{gateway.ws_url}/ws")
    first = await client.subscribe(channel)
    await publish(gateway, {"channel": channel, "data": "before"})
    assert (await client.recv())["seq"] == 1
    config = gateway.config
    directory = RoomDirectory(config.strategy(), config.directory_config())
    _, ref = directory.resolve(channel)
    ray.kill(await directory.host(ref), no_restart=False)
    notice = await client.recv(TIMEOUT * 2)
    assert notice["type"] == "connected"
    assert notice["channel"] == channel
    assert notice["payload"]["recovered"] is False
    assert notice["payload"]["epoch"] != first["payload"]["epoch"]
    deadline = time.monotonic() + TIMEOUT
    while True:
        response = await publish(gateway, {"channel": channel, "data": "after"})
        if response.status_code == 200:
            break
        assert time.monotonic() < deadline
    frame = await client.recv()
    assert frame["data"] == "after"
    assert frame["seq"] == notice["payload"]["seq"] + 1
    await client.close()


async def test_token_in_a_cookie_names_the_principal(gateway: GatewayGroup) -> None:
    """A token in the partyray_token cookie proves who the connection is."""
    channel = "users:carol:queries:77aa"
    cookie = f"partyray_token={issue_token(AUTH_SECRET, 'carol')}"
    carol = await Client.connect(
        f"{gateway.ws_url}/ws", additional_headers={"Cookie": cookie}
    )
    assert (await carol.subscribe(channel))["payload"]["subscribed"]
    await carol.close()


async def test_subscribing_twice_counts_once(ray_cluster: None) -> None:
    """A repeated subscribe is acknowledged again and still counts as one."""
    group = GatewayGroup.start(gateway_config(), count=1)
    try:
        client = await Client.connect(f"{group.ws_url}/ws")
        for _ in range(2):
            assert (await client.subscribe("c?roomId=twice"))["type"] == "connected"
        assert [s.subscriptions for s in group.statistics()] == [1]
        await client.send({"type": "remult:unsubscribe", "channel": "c?roomId=twice"})
        await client.send("ping")
        assert (await client.recv())["type"] == "pong"
        assert [s.subscriptions for s in group.statistics()] == [0]
        await client.close()
    finally:
        group.stop()
