"""A tiny in-process gateway speaking docs/protocol.md, with knobs to misbehave.

It stands in for the real gateway where a test needs what the real one will
not do on request: lose one frame, go silent, forget its history. Rooms are
not modelled; every channel lives in one table.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve

#: Scale of every wait in the client tests, in seconds.
UNIT = 0.05


@dataclass
class FakeGateway:
    """The server's state and the test's knobs."""

    history_limit: int = 1000
    refuse: set[str] = field(default_factory=set)
    mute: bool = False
    epoch: str = "e1"
    seqs: dict[str, int] = field(default_factory=dict)
    history: dict[str, list[tuple[int, Any]]] = field(default_factory=dict)
    subscribers: dict[str, set[ServerConnection]] = field(default_factory=dict)
    sockets: list[ServerConnection] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    server: Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def open_sockets(self) -> int:
        return sum(1 for ws in self.sockets if ws.state.name == "OPEN")

    async def handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        self.paths.append(ws.request.path)
        self.sockets.append(ws)
        await ws.send(json.dumps({"type": "connected", "channel": "system"}))
        try:
            async for text in ws:
                await self.on_frame(ws, str(text))
        finally:
            for subscribers in self.subscribers.values():
                subscribers.discard(ws)

    async def on_frame(self, ws: ServerConnection, text: str) -> None:
        if text == "ping":
            if not self.mute:
                await ws.send(json.dumps({"type": "pong", "channel": "system"}))
            return
        frame = json.loads(text)
        self.received.append(frame)
        channel = frame["channel"]
        if frame["type"] == "remult:unsubscribe":
            self.subscribers.get(channel, set()).discard(ws)
            return
        if channel in self.refuse:
            error = {
                "type": "error",
                "channel": channel,
                "error": "subscription refused",
            }
            await ws.send(json.dumps({**error, "code": "forbidden"}))
            return
        self.subscribers.setdefault(channel, set()).add(ws)
        seq = self.seqs.get(channel, 0)
        history = self.history.get(channel, [])
        since = frame.get("since")
        same_life = frame.get("epoch") in (None, self.epoch)
        replay = [(s, d) for s, d in history if since is not None and s > since]
        recovered = since is None or (
            same_life
            and since <= seq
            and (since == seq or (bool(history) and history[0][0] <= since + 1))
        )
        payload = {"subscribed": True, "seq": seq, "recovered": recovered}
        ack = {"type": "connected", "channel": channel, "payload": payload}
        await ws.send(json.dumps({**ack, "payload": {**payload, "epoch": self.epoch}}))
        if recovered:
            for s, data in replay:
                await ws.send(self.data_frame(channel, s, data))

    def data_frame(self, channel: str, seq: int, data: Any) -> str:
        return json.dumps(
            {"type": "data", "channel": channel, "data": data, "seq": seq}
        )

    async def publish(self, channel: str, data: Any, *, lose: bool = False) -> int:
        """Number and store a message; send it unless ``lose``."""
        seq = self.seqs.get(channel, 0) + 1
        self.seqs[channel] = seq
        history = self.history.setdefault(channel, [])
        history.append((seq, data))
        del history[: -self.history_limit]
        if not lose:
            for ws in list(self.subscribers.get(channel, ())):
                await ws.send(self.data_frame(channel, seq, data))
        return seq

    async def drop_all(self) -> None:
        """Abort every socket, as a gateway that died would."""
        for ws in self.sockets:
            ws.transport.abort()
        self.subscribers.clear()
        await asyncio.sleep(0)

    def restart_rooms(self) -> None:
        """Forget every channel: a new epoch numbering from 1."""
        self.epoch = f"{self.epoch}+"
        self.seqs.clear()
        self.history.clear()


@asynccontextmanager
async def fake_gateway(**knobs: Any) -> AsyncIterator[FakeGateway]:
    """A running :class:`FakeGateway` on a free local port."""
    gateway = FakeGateway(**knobs)
    async with serve(gateway.handle, "127.0.0.1", 0) as server:
        gateway.server = server
        yield gateway


async def eventually(predicate: Any, timeout: float = 40 * UNIT) -> None:
    """Wait until ``predicate()`` holds, polling every UNIT/5 seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(UNIT / 5)
