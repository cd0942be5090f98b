"""The publisher process: client publish frames over one WebSocket, or HTTP.

Message ``k`` goes to channel ``order[k % len(order)]`` with the data
``{"t": <send time, ns since the epoch>, "n": <counter on that channel>}``.
At a fixed ``rate`` messages leave on a schedule; saturated, the publisher
keeps at most ``window`` messages' worth of deliveries, and at least 1,000,
outstanding (read from the subscribers' progress array, against the
subscriptions actually made),
and after a second without progress sends on anyway and counts a stall, so a
lossy target cannot hang the run. Over HTTP each of the ``http_concurrency``
request loops owns a disjoint set of channels, so per-channel order holds.
"""

from __future__ import annotations

import asyncio
import resource
import time
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from benchmarks.load.controls import Controls, watch
from benchmarks.load.plan import PublisherPlan, PublisherReport

__all__ = ["publisher_main"]

_STALL_S = 1.0

# With one subscriber per channel a window of a few messages would measure the
# round trip, not the server; this many deliveries may always be outstanding.
_MIN_OUTSTANDING = 1000
_MAX_ERRORS = 5


class _Publisher:
    def __init__(self, plan: PublisherPlan, controls: Controls) -> None:
        self.plan = plan
        self.controls = controls
        self.sent: dict[int, int] = {}
        self.expected = 0
        self.requests = 0
        self.error_frames = 0
        self.stalls = 0
        self.errors: list[str] = []
        self.first_ns = 0
        self.last_ns = 0
        self.cpu_at_go = 0.0
        self.fanout = list(plan.fanout)
        self.window_deliveries = float(plan.window)

    def _on_go(self) -> None:
        # Subscriptions are all made by now: count what each message should reach.
        self.cpu_at_go = time.process_time()
        self.fanout = list(self.controls.fanout[:])
        fanouts = [self.fanout[c] for c in set(self.plan.order)] or [1]
        mean = max(1.0, sum(fanouts) / len(fanouts))
        self.window_deliveries = max(self.plan.window * mean, _MIN_OUTSTANDING)

    async def run(self) -> None:
        deadline = time.monotonic() + self.plan.deadline_s
        go, stop = asyncio.Event(), asyncio.Event()
        watchers = [
            asyncio.create_task(watch(self.controls.go, go, deadline, 0.001)),
            asyncio.create_task(watch(self.controls.stop, stop, deadline)),
        ]

        # Report as soon as publishing ends; hold the connection until stop.
        if self.plan.via == "http":
            await self._run_http(go, stop)
            self.controls.published.put(self._report())
        else:
            ws = await connect(
                self.plan.ws_url, compression=None, proxy=None, ping_interval=None
            )
            await ws.recv()
            reader = asyncio.create_task(self._drain(ws))
            await self._run_ws(ws, go, stop)
            self.controls.published.put(self._report())
            await stop.wait()
            reader.cancel()
            ws.transport.abort()
        await stop.wait()
        for task in watchers:
            task.cancel()

    def _report(self) -> PublisherReport:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return PublisherReport(
            sent_per_channel=dict(self.sent),
            first_ns=self.first_ns,
            last_ns=self.last_ns,
            requests=self.requests,
            error_frames=self.error_frames,
            stalls=self.stalls,
            cpu_s=time.process_time() - self.cpu_at_go,
            peak_rss=usage.ru_maxrss * 1024,
            errors=tuple(self.errors),
        )

    def _next(self, k: int) -> dict[str, Any]:
        """Message ``k`` of the plan's round-robin."""
        return self._message(self.plan.order[k % len(self.plan.order)])

    def _message(self, index: int) -> dict[str, Any]:
        # Number the message on its channel and stamp it as late as possible.
        counter = self.sent.get(index, 0) + 1
        self.sent[index] = counter
        self.expected += self.fanout[index]
        now = time.time_ns()
        if not self.first_ns:
            self.first_ns = now
        self.last_ns = now
        data = {"t": now, "n": counter}
        return {"channel": self.plan.channels[index], "data": data}

    async def _pace(self, k: int, started: float, stop: asyncio.Event) -> bool:
        """Wait until message ``k`` may leave; ``False`` when the run is over."""
        if stop.is_set() or k >= self.plan.messages:
            return False
        if time.perf_counter() - started > self.plan.duration_s:
            return False
        if self.plan.rate > 0:
            delay = started + k / self.plan.rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            return True
        waited = time.perf_counter()
        while self.expected - self.controls.delivered() > self.window_deliveries:
            if time.perf_counter() - waited > _STALL_S:
                self.stalls += 1
                break
            await asyncio.sleep(0.002)
        return True

    async def _run_ws(
        self, ws: ClientConnection, go: asyncio.Event, stop: asyncio.Event
    ) -> None:
        self.controls.ready.put(("publisher", 0, time.time(), time.time(), 1))
        await go.wait()
        self._on_go()
        started = time.perf_counter()
        k = 0
        try:
            while await self._pace(k, started, stop):
                frame = self._next(k)
                frame["type"] = "data"
                await ws.send(orjson.dumps(frame), text=True)
                k += 1
        except ConnectionClosed as exc:
            self._error(f"publisher closed: {exc!r}")

    async def _drain(self, ws: ClientConnection) -> None:
        # Frames sent to the publisher are only ever errors or acks; count errors.
        try:
            async for message in ws:
                if orjson.loads(message).get("type") == "error":
                    self.error_frames += 1
                    self._error(f"error frame: {message!r:.160}")
        except ConnectionClosed:
            return

    async def _run_http(self, go: asyncio.Event, stop: asyncio.Event) -> None:
        headers = {
            "Authorization": f"Bearer {self.plan.token}",
            "Content-Type": "application/json",
        }
        limits = httpx.Limits(max_connections=self.plan.http_concurrency)
        async with httpx.AsyncClient(
            base_url=self.plan.http_url,
            headers=headers,
            limits=limits,
            timeout=30,
            trust_env=False,
        ) as client:
            self.controls.ready.put(("publisher", 0, time.time(), time.time(), 1))
            await go.wait()
            self._on_go()
            started = time.perf_counter()

            # Each request loop owns a disjoint set of channels, so the counter
            # order on a channel is the order its requests complete in.
            workers = max(1, self.plan.http_concurrency)
            plan = [
                self.plan.order[k % len(self.plan.order)]
                for k in range(self.plan.messages)
            ]
            shares = [
                [(k, c) for k, c in enumerate(plan) if c % workers == w]
                for w in range(workers)
            ]
            await asyncio.gather(
                *(
                    self._post_share(client, share, started, stop)
                    for share in shares
                    if share
                )
            )

    async def _post_share(
        self,
        client: httpx.AsyncClient,
        share: list[tuple[int, int]],
        started: float,
        stop: asyncio.Event,
    ) -> None:
        for offset in range(0, len(share), self.plan.batch):
            chunk = share[offset : offset + self.plan.batch]
            if not await self._pace(chunk[0][0], started, stop):
                return
            body = orjson.dumps({"messages": [self._message(c) for _k, c in chunk]})
            try:
                answer = await client.post("/publish", content=body)
            except httpx.HTTPError as exc:
                self._error(f"publish: {exc!r}")
                continue
            self.requests += 1
            if answer.status_code != 200:
                self.error_frames += 1
                self._error(f"publish {answer.status_code}: {answer.text[:120]}")

    def _error(self, text: str) -> None:
        if len(self.errors) < _MAX_ERRORS:
            self.errors.append(text)


def publisher_main(plan: PublisherPlan, controls: Controls) -> None:
    """Entry point of the publisher process: publish, put the report, wait."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(_Publisher(plan, controls).run())
    else:
        uvloop.run(_Publisher(plan, controls).run())
