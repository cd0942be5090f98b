"""Coalescing calls to one host: at most one in flight, the rest leave together.

Callers that reach the same host while a call to it is in flight wait, and
their requests leave together in the next call, up to ``max_batch`` requests
each. A lone caller pays one call and no delay; a crowd pays one call per
round trip instead of one per caller. This is the publish-side twin of the
outbox (see :mod:`partyray.actors.outbox`).

The queue of waiting requests is bounded by ``max_pending``: past it a caller
gets :class:`RoomUnavailable` at once rather than a place in a queue that
would only grow.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from partyray.partitioning.errors import RoomUnavailable

__all__ = ["Coalescer"]

T = TypeVar("T")
R = TypeVar("R")


class Coalescer(Generic[T, R]):
    """Sends requests in batches through ``send``, one batch in flight.

    ``send`` takes a list of requests and returns one result per request, in
    order; a result that is an exception is raised to that request's caller
    alone. An exception from ``send`` itself goes to every caller of the batch.
    """

    def __init__(
        self,
        name: str,
        send: Callable[[list[T]], Awaitable[list[R | BaseException]]],
        *,
        max_batch: int = 1000,
        max_pending: int = 100_000,
    ) -> None:
        self.name = name
        self._send = send
        self._max_batch = max_batch
        self._max_pending = max_pending
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._flushing = False
        self._flusher: asyncio.Task[None] | None = None
        self.calls = 0
        self.requests = 0

    async def submit(self, request: T) -> R:
        """Send ``request`` with whatever else is waiting; return its result."""
        return await self.submit_soon(request)

    def submit_soon(self, request: T) -> asyncio.Future[R]:
        """Queue ``request`` now; the future gets its result.

        Raises :class:`RoomUnavailable` at once when the queue is full.
        """
        if len(self._pending) >= self._max_pending:
            raise RoomUnavailable(
                f"host {self.name} has {len(self._pending)} requests waiting"
            )
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append((request, future))
        if not self._flushing:
            self._flushing = True
            self._flusher = loop.create_task(self._flush())
        return future

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                self.calls += 1
                self.requests += len(batch)
                try:
                    results = await self._send([request for request, _ in batch])
                except BaseException as error:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(error)
                    if isinstance(error, asyncio.CancelledError):
                        raise
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self._flushing = False
