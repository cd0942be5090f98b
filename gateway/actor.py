"""The gateway actor: uvicorn serving the gateway app on a Ray actor's event loop.

This is the shape of Ray Serve's own HTTP proxy: the server runs as a task on
the actor's loop, so rooms reach the gateway by ordinary actor calls
(``deliver``) on the same loop that writes to the sockets. Several gateway
actors on one node share a port through ``SO_REUSEPORT``.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from typing import Any

from partyray.actors import Delivery, RoomDirectory

from .app import build_app
from .auth import HS256Verifier
from .config import GatewayConfig
from .hub import Hub
from .metrics import GatewayStatistics

__all__ = ["GatewayActor", "bind_socket"]

logger = logging.getLogger("partyray.gateway")


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` that other gateways can share."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if hasattr(socket, "SO_REUSEPORT"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


class GatewayActor:
    """One gateway shard. Create with ``ray.remote``; call ``start`` once."""

    def __init__(self, config: GatewayConfig, index: int = 0) -> None:
        self.config = config
        self.index = index
        # A new id per life: a restarted gateway is a new subscriber, and the
        # rooms drop the old one when delivering to it fails.
        self.subscriber = f"gateway/{index}/{uuid.uuid4().hex[:8]}"
        self._hub: Hub | None = None
        self._server: Any = None
        self._tasks: list[asyncio.Task[Any]] = []

    async def start(self) -> str:
        """Bind, start serving and return the gateway's HTTP URL."""
        import ray
        import uvicorn

        config = self.config
        logging.getLogger("partyray").setLevel(config.log_level.upper())
        directory = RoomDirectory(config.strategy(), config.directory_config())
        hub = Hub(
            directory,
            subscriber=self.subscriber,
            handle=ray.get_runtime_context().current_actor,
            limits=config.limits,
            allow_client_publish=config.allow_client_publish,
        )
        # The rooms write this gateway's deliveries to their links when open.
        directory.attach(self.subscriber, hub.deliver)
        self._hub = hub
        verifier = HS256Verifier(config.auth_secret) if config.auth_secret else None

        async def health() -> bool:
            # Ray answers when the first host of the shared pool does.
            try:
                await asyncio.wait_for(directory.call(directory.pool()[0], "ping"), 3.0)
            except Exception:
                return False
            return True

        app = build_app(
            hub, config, verifier=verifier, health=health, name=str(self.index)
        )
        sock = bind_socket(config.host, config.port)
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                lifespan="off",
                access_log=False,
                log_level=config.log_level.lower(),
                ws="websockets-sansio",
                ws_max_size=config.limits.max_frame,
                # Frames are written whole by the hub (see wire.py): no deflate.
                ws_per_message_deflate=False,
                # No proxy-header rewriting: one less layer per connection.
                proxy_headers=False,
                ws_ping_interval=None,
                timeout_graceful_shutdown=3,
            )
        )
        self._server = server
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(server.serve(sockets=[sock])))
        self._tasks.append(loop.create_task(hub.watch(config.watch_interval)))
        for _ in range(500):
            if server.started:
                break
            if self._tasks[0].done():
                self._tasks[0].result()
            await asyncio.sleep(0.01)
        else:
            raise RuntimeError("gateway did not start serving within 5 s")
        host, port = sock.getsockname()[:2]
        logger.info("gateway %d serving on %s:%d", self.index, host, port)
        return f"http://{config.host}:{port}"

    async def deliver(self, host: str, incarnation: str, batch: list[Delivery]) -> None:
        """Called by room hosts: write ``batch`` to the local subscribers."""
        if self._hub is not None:
            self._hub.deliver(host, incarnation, batch)

    async def statistics(self) -> GatewayStatistics:
        """A snapshot of this gateway's counters."""
        if self._hub is None:
            raise RuntimeError("gateway not started")
        return self._hub.statistics()

    async def stop(self) -> None:
        """Close every connection (1001), stop serving, leave every room."""
        if self._hub is not None:
            await self._hub.shutdown()
            self._hub.directory.close_links()
        if self._server is not None:
            self._server.should_exit = True
        for task in self._tasks[1:]:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks[:1], timeout=5.0)
