"""The shared signals between the harness and its load processes."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from multiprocessing.context import SpawnContext
from typing import Any

__all__ = ["Controls", "watch"]


@dataclass(frozen=True)
class Controls:
    """Events, queues and the progress array, created in the harness.

    ``progress[slot]`` is the number of deliveries subscriber process ``slot``
    has seen so far; each process writes only its own cell, so no lock is
    needed. Subscriber processes start, put ``("spawned", slot)`` on
    ``ready`` and wait for ``connect`` before opening connections, so the
    server's memory can be read with every load process already running.
    ``fanout[c]`` counts the subscriptions to channel ``c`` that were
    acknowledged (under its lock), so a failed connection is not waited for.
    ``ready`` carries one message per process once it is connected;
    ``results`` carries subscriber reports, ``published`` the publisher's.
    """

    connect: Any
    go: Any
    stop: Any
    drop: Any
    progress: Any
    fanout: Any
    ready: Any
    results: Any
    published: Any

    @classmethod
    def create(cls, ctx: SpawnContext, slots: int, channels: int) -> Controls:
        """New controls for ``slots`` subscriber processes and ``channels``."""
        return cls(
            connect=ctx.Event(),
            go=ctx.Event(),
            stop=ctx.Event(),
            drop=ctx.Event(),
            progress=ctx.Array("q", max(slots, 1), lock=False),
            fanout=ctx.Array("q", max(channels, 1)),
            ready=ctx.Queue(),
            results=ctx.Queue(),
            published=ctx.Queue(),
        )

    def delivered(self) -> int:
        """Deliveries seen by all subscriber processes so far."""
        return int(sum(self.progress[:]))


async def watch(
    event: Any, flag: asyncio.Event, deadline: float, period: float = 0.005
) -> None:
    """Set ``flag`` when the process-shared ``event`` is set or ``deadline`` passes.

    ``deadline`` is a :func:`time.monotonic` value; it is what makes every
    load process stop by itself even if the harness dies.
    """
    # Polled, since a process-shared event cannot wake an event loop.
    while True:
        if event.is_set() or time.monotonic() >= deadline:
            break
        await asyncio.sleep(period)
    flag.set()
