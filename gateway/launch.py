"""Starting, restarting and stopping a group of gateway actors from a driver."""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import time
from dataclasses import replace
from typing import Any

import httpx

from partyray.actors import RoomDirectory

from .actor import GatewayActor
from .config import GatewayConfig

__all__ = ["GatewayGroup", "free_port", "warm_pool"]

logger = logging.getLogger("partyray.gateway")


async def warm_pool(config: GatewayConfig) -> None:
    """Get or create every shard host of the shared pool, in parallel."""
    directory = RoomDirectory(config.strategy(), config.directory_config())
    await asyncio.gather(*(directory.host(ref) for ref in directory.pool()))


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


#: How many free ports a group tries when it picks its own.
_PORT_ATTEMPTS = 5


def _address_in_use(error: BaseException) -> bool:
    # A failure inside an actor comes back as RayTaskError(OSError), whose
    # ``cause`` is the original error.
    cause = getattr(error, "cause", None) or error
    return isinstance(cause, OSError) and cause.errno == errno.EADDRINUSE


class GatewayGroup:
    """Gateway actors sharing one port. Needs ``ray.init`` to have run.

    The actors run on the node of the process that started them (they listen
    on its interfaces), are owned by that process and die with it, so
    stopping the driver leaves no gateway behind; room hosts are detached and
    outlive gateways.
    """

    def __init__(self, config: GatewayConfig, actors: list[Any]) -> None:
        self.config = config
        self._actors = actors

    @classmethod
    def start(
        cls,
        config: GatewayConfig,
        count: int = 1,
        *,
        timeout: float = 60.0,
        warm: bool = False,
    ) -> GatewayGroup:
        """Start ``count`` gateways and wait until every one serves.

        With ``warm`` the shared pool of room hosts is created first, so that
        the first subscribers do not wait for host processes to start.
        """
        if count < 1:
            raise ValueError("a gateway group needs at least one gateway")
        import ray

        # A port picked here is free when picked, but any process of the node
        # may take it before the gateways bind it: then pick another.
        attempts = _PORT_ATTEMPTS if config.port == 0 else 1
        for attempt in range(1, attempts + 1):
            chosen = config
            if config.port == 0:
                chosen = replace(config, port=free_port(config.host))
            group = cls(chosen, [])
            group._actors = [group._spawn(i) for i in range(count)]
            if warm and attempt == 1:
                # While the gateway processes start.
                asyncio.run(warm_pool(config))
            try:
                ray.get([a.start.remote() for a in group._actors], timeout=timeout)
            except OSError as error:
                for actor in group._actors:
                    ray.kill(actor, no_restart=True)
                if attempt == attempts or not _address_in_use(error):
                    raise
                logger.info("port %d was taken meanwhile: trying another", chosen.port)
                continue
            break
        group.wait_healthy(timeout)
        return group

    def _spawn(self, index: int) -> Any:
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        # Gateways listen on this node's interfaces, so they must run here,
        # whatever node Ray would otherwise pick in a cluster.
        here = ray.get_runtime_context().get_node_id()
        cls = ray.remote(GatewayActor)
        return cls.options(
            num_cpus=0,
            max_concurrency=100_000,
            max_restarts=0,
            enable_task_events=False,
            scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False),
        ).remote(self.config, index)

    @property
    def http_url(self) -> str:
        return f"http://{self.config.host}:{self.config.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.config.host}:{self.config.port}"

    @property
    def actors(self) -> list[Any]:
        return list(self._actors)

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Poll ``/health`` until it answers 200."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.http_url}/health", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"gateway at {self.http_url} is not healthy")
            time.sleep(0.1)

    def statistics(self) -> list[Any]:
        """Each gateway's statistics, in order."""
        import ray

        return list(ray.get([a.statistics.remote() for a in self._actors]))

    def restart(self, index: int = 0, *, timeout: float = 60.0) -> None:
        """Kill gateway ``index`` abruptly and start a new one on the same port."""
        import ray

        ray.kill(self._actors[index], no_restart=True)
        actor = self._spawn(index)
        ray.get(actor.start.remote(), timeout=timeout)
        self._actors[index] = actor

    def stop(self, timeout: float = 10.0) -> None:
        """Close every connection cleanly, then end the actors."""
        import ray

        try:
            ray.get([a.stop.remote() for a in self._actors], timeout=timeout)
        except Exception:
            logger.warning("gateways did not stop cleanly", exc_info=True)
        for actor in self._actors:
            ray.kill(actor, no_restart=True)
        self._actors = []
