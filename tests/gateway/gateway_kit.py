"""Helpers for gateway tests: configurations and a protocol-reading client."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import websockets

from partyray.actors import DirectoryConfig, RoomConfig
from partyray.gateway import GatewayConfig, Limits

PUBLISH_TOKEN = "test-publish-token"
AUTH_SECRET = "test-auth-secret"

#: Every wait in these tests is a multiple of this, so slow machines can scale it.
TIMEOUT = 10.0


def gateway_config(**overrides: Any) -> GatewayConfig:
    """A gateway configuration with its own namespace and test-sized limits."""
    base: dict[str, Any] = {
        "port": 0,
        "publish_token": PUBLISH_TOKEN,
        "auth_secret": AUTH_SECRET,
        "directory": DirectoryConfig(
            namespace=f"gw-test-{time.time_ns()}",
            shards=2,
            room=RoomConfig(history_size=5),
            sweep_interval=0.5,
        ),
        "limits": Limits(
            max_frame=4096,
            subscriptions_per_connection=3,
            outbound_bytes=65_536,
            protocol_errors=4,
            max_publish_body=65_536,
        ),
        "watch_interval": 0.2,
        "log_level": "warning",
    }
    base.update(overrides)
    return GatewayConfig(**base)


class Client:
    """A websockets client that reads protocol frames with timeouts."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.hello: dict[str, Any] = {}

    @classmethod
    async def connect(cls, url: str, **kwargs: Any) -> Client:
        client = cls(await websockets.connect(url, **kwargs))
        client.hello = await client.recv()
        return client

    async def send(self, frame: dict[str, Any] | str) -> None:
        await self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def recv(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        frame: dict[str, Any] = json.loads(raw)
        return frame

    async def subscribe(
        self, channel: str, since: int | None = None, epoch: str | None = None
    ) -> dict[str, Any]:
        frame: dict[str, Any] = {"type": "remult:subscribe", "channel": channel}
        if since is not None:
            frame["since"] = since
        if epoch is not None:
            frame["epoch"] = epoch
        await self.send(frame)
        return await self.recv()

    async def silent(self, seconds: float = 0.5) -> bool:
        """True when nothing arrives for ``seconds``."""
        try:
            await asyncio.wait_for(self.ws.recv(), seconds)
        except asyncio.TimeoutError:
            return True
        return False

    async def close(self) -> None:
        await self.ws.close()
