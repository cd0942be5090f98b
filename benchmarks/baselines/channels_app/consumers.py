"""The WebSocket consumer: connected frame, subscribe acks, client publish."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
from channels.generic.websocket import AsyncWebsocketConsumer

from benchmarks.baselines.channels_app.publishing import current_seq, group_for, publish

__all__ = ["BenchConsumer"]

_IDS = itertools.count(1)
_SUBSCRIBE = frozenset({"remult:subscribe", "subscribe"})
_UNSUBSCRIBE = frozenset({"remult:unsubscribe", "unsubscribe"})


class BenchConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    """One client connection; each subscribed channel is a group membership."""

    async def connect(self) -> None:
        """Accept and send the ``connected`` system frame."""
        self.joined: set[str] = set()
        await self.accept()
        payload = {"clientId": f"c-{next(_IDS)}"}
        await self._send({"type": "connected", "channel": "system", "payload": payload})

    async def disconnect(self, code: int) -> None:
        """Leave every group this connection joined."""
        for channel in getattr(self, "joined", set()):
            await self.channel_layer.group_discard(
                group_for(channel), self.channel_name
            )

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None
    ) -> None:
        """Handle ``ping``, subscribe, unsubscribe and client publish frames."""
        if text_data == "ping":
            await self._send({"type": "pong", "channel": "system"})
            return
        if text_data is None:
            return
        frame = orjson.loads(text_data)
        kind, channel = frame.get("type"), frame.get("channel")
        if not isinstance(channel, str):
            return
        if kind == "data":
            await publish(self.channel_layer, channel, frame.get("data"))
        elif kind in _SUBSCRIBE:
            await self.channel_layer.group_add(group_for(channel), self.channel_name)
            self.joined.add(channel)
            seq, since = current_seq(channel), frame.get("since")
            recovered = since is None or (isinstance(since, int) and since >= seq)
            payload = {"subscribed": True, "seq": seq, "recovered": recovered}
            await self._send(
                {"type": "connected", "channel": channel, "payload": payload}
            )
        elif kind in _UNSUBSCRIBE:
            self.joined.discard(channel)
            await self.channel_layer.group_discard(
                group_for(channel), self.channel_name
            )

    async def bench_frame(self, event: dict[str, Any]) -> None:
        """A published frame from the channel layer, already encoded."""
        await self.send(text_data=event["text"])

    async def _send(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=orjson.dumps(frame).decode())
