"""Wire against a real uvicorn and a real websockets client, without Ray.

These pin what the gateway relies on inside uvicorn's websockets-sansio
protocol: its transport, and the handshake state it sheds after accepting.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
import websockets
from starlette.websockets import WebSocket

from partyray.gateway.wire import Wire, text_frame


async def test_frames_go_straight_out_and_the_handshake_is_shed() -> None:
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "websocket"
        websocket = WebSocket(scope, receive, send)
        await websocket.accept()
        protocol = websocket._send.__self__  # type: ignore[attr-defined]
        # websockets' parser keeps the handshake request in its frame.
        kept = protocol.conn.parser.gi_frame.f_locals.get("request")
        seen["headers_before"] = len(kept.headers) if kept is not None else None
        wire = Wire(websocket)
        seen["headers_after"] = len(kept.headers) if kept is not None else None
        seen["scope_headers"] = len(websocket.scope["headers"])
        seen["request"] = getattr(protocol, "request", None)
        seen["buffered"] = wire.send(text_frame(b'{"type":"hello"}'))
        seen["sent"] = wire.send(text_frame(b'{"n":2}'))
        while (await receive())["type"] != "websocket.disconnect":
            pass

    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            ws="websockets-sansio",
            lifespan="off",
            log_level="warning",
        )
    )
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        async with websockets.connect(
            f"ws://127.0.0.1:{port}/ws",
            additional_headers={"X-Something-Long": "x" * 500},
        ) as client:
            assert await asyncio.wait_for(client.recv(), 5) == '{"type":"hello"}'
            assert await asyncio.wait_for(client.recv(), 5) == '{"n":2}'
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)

    if seen["headers_before"] is not None:
        assert seen["headers_before"] > 0
        assert seen["headers_after"] == 0
    assert seen["scope_headers"] == 0
    assert seen["request"] is None
    assert seen["buffered"] >= 0
    assert seen["sent"] >= 0
