"""A subscriber process: many WebSocket connections, each with its subscriptions.

Connections open at most ``connect_concurrency`` at a time; each waits for the
``connected`` system frame, subscribes, and counts as set up when every
subscription is acknowledged. Every data frame is timed against the send time
it carries (wall clock, since publisher and subscribers are different
processes) and counted in a :class:`~benchmarks.load.tally.Tally`. The process
stops on the stop signal or at its deadline, whichever comes first.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from benchmarks.load.controls import Controls, watch
from benchmarks.load.plan import ReconnectRecord, SubscriberPlan, SubscriberReport
from benchmarks.load.tally import LatencySample, Tally

__all__ = ["subscriber_main"]

_MAX_ERRORS = 5


@dataclass
class _Return:
    """One channel's state across a drop and a resubscribe with ``since``."""

    since: int
    dropped_ns: int
    acked_ns: int = 0
    ack_seq: int = 0
    recovered: bool = False
    replayed: int = 0
    caught_up_ns: int | None = None


@dataclass
class _Connection:
    url: str
    channels: dict[str, int]
    tallies: dict[str, Tally] = field(default_factory=dict)
    returns: dict[str, _Return] = field(default_factory=dict)


class _Subscribers:
    def __init__(self, plan: SubscriberPlan, controls: Controls) -> None:
        self.plan = plan
        self.controls = controls
        self.latency = LatencySample(plan.sample_cap)
        self.deliveries = 0
        self.first_ns = 0
        self.last_ns = 0
        self.error_frames = 0
        self.failed = 0
        self.setup_s: list[float] = []
        self.errors: list[str] = []
        self.connections: list[_Connection] = []
        self.stop_flag = asyncio.Event()
        self.drop_flag = asyncio.Event()
        self.gate = asyncio.Semaphore(plan.connect_concurrency)

    async def run(self) -> SubscriberReport:
        deadline = time.monotonic() + self.plan.deadline_s
        watchers = [
            asyncio.create_task(watch(self.controls.stop, self.stop_flag, deadline)),
            asyncio.create_task(watch(self.controls.drop, self.drop_flag, deadline)),
        ]

        # Open every connection when told, then say how long the storm took.
        self.controls.ready.put(("spawned", self.plan.slot, 0.0, 0.0, 0))
        connect_now = asyncio.Event()
        await watch(self.controls.connect, connect_now, deadline, 0.002)
        storm_start = time.time()
        tokens = self.plan.tokens
        for n, spec in enumerate(self.plan.connections):
            names = {self.plan.channels[i]: i for i in spec}
            url = f"{self.plan.url}?token={tokens[n]}" if tokens else self.plan.url
            self.connections.append(_Connection(url=url, channels=names))
        opened = await asyncio.gather(*(self._open(c) for c in self.connections))
        storm_end = time.time()
        cpu_ready = time.process_time()
        ok = sum(1 for ws in opened if ws is not None)
        self.controls.ready.put(
            ("subscriber", self.plan.slot, storm_start, storm_end, ok)
        )

        # Read until told to stop; drop and come back once if the plan says so.
        sessions = [
            asyncio.create_task(self._session(c, ws))
            for c, ws in zip(self.connections, opened, strict=True)
            if ws is not None
        ]
        await self.stop_flag.wait()
        for task in (*sessions, *watchers):
            task.cancel()
        await asyncio.gather(*sessions, *watchers, return_exceptions=True)
        return self._report(ok, time.process_time() - cpu_ready)

    async def _open(self, conn: _Connection) -> ClientConnection | None:
        async with self.gate:
            started = time.perf_counter()
            try:
                ws = await self._connect_and_subscribe(conn)
            except (OSError, TimeoutError, ConnectionClosed, ValueError) as exc:
                self.failed += 1
                self._error(f"connect: {exc!r}")
                return None
            self.setup_s.append(time.perf_counter() - started)
            return ws

    async def _connect_and_subscribe(self, conn: _Connection) -> ClientConnection:
        ws = await connect(
            conn.url,
            compression=None,
            proxy=None,
            open_timeout=self.plan.open_timeout,
            ping_interval=None,
            close_timeout=1,
            max_size=2**20,
        )
        try:
            async with asyncio.timeout(self.plan.open_timeout):
                hello = orjson.loads(await ws.recv())
                if hello.get("type") != "connected":
                    raise ValueError(f"unexpected first frame {hello!r:.120}")
                for channel in conn.channels:
                    frame: dict[str, Any] = {
                        "type": "remult:subscribe",
                        "channel": channel,
                    }
                    back = conn.returns.get(channel)
                    if back is not None:
                        frame["since"] = back.since
                    await ws.send(orjson.dumps(frame), text=True)
                pending = set(conn.channels)
                while pending:
                    frame = orjson.loads(await ws.recv())
                    kind = frame.get("type")
                    if kind == "connected" and frame.get("channel") in pending:
                        pending.discard(frame["channel"])
                        self._on_ack(conn, frame)
                        if not conn.returns:
                            self._count_subscription(conn.channels[frame["channel"]])
                    elif kind == "data":
                        self._on_data(conn, frame, time.time_ns())
                    elif kind == "error":
                        raise ValueError(f"subscribe refused: {frame!r:.160}")
        except BaseException:
            ws.transport.abort()
            raise
        return ws

    async def _session(self, conn: _Connection, ws: ClientConnection) -> None:
        reader = asyncio.create_task(self._read(conn, ws))
        if self.plan.drop_gap is None:
            await reader
            return

        # The reconnect scenario: vanish without a close frame, then return.
        await self.drop_flag.wait()
        if self.stop_flag.is_set():
            reader.cancel()
            return
        dropped = time.time_ns()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        ws.transport.abort()
        for channel, tally in conn.tallies.items():
            conn.returns[channel] = _Return(since=tally.last_seq, dropped_ns=dropped)
        for channel in conn.channels:
            conn.returns.setdefault(channel, _Return(since=0, dropped_ns=dropped))
        await asyncio.sleep(self.plan.drop_gap)
        back = await self._open(conn)
        if back is not None:
            await self._read(conn, back)

    async def _read(self, conn: _Connection, ws: ClientConnection) -> None:
        try:
            async for message in ws:
                now = time.time_ns()
                frame = orjson.loads(message)
                kind = frame.get("type")
                if kind == "data":
                    self._on_data(conn, frame, now)
                elif kind == "error":
                    self.error_frames += 1
                    self._error(f"error frame: {message!r:.160}")
        except ConnectionClosed as exc:
            if not self.stop_flag.is_set():
                self._error(f"closed: {exc!r}")
        finally:
            ws.transport.abort()

    def _count_subscription(self, index: int) -> None:
        fanout = self.controls.fanout
        with fanout.get_lock():
            fanout[index] += 1

    def _on_ack(self, conn: _Connection, frame: dict[str, Any]) -> None:
        back = conn.returns.get(frame["channel"])
        if back is None:
            return
        payload = frame.get("payload") or {}
        back.acked_ns = time.time_ns()
        back.ack_seq = int(payload.get("seq", 0))
        back.recovered = bool(payload.get("recovered", False))
        if back.recovered and back.ack_seq <= back.since:
            back.caught_up_ns = back.acked_ns

    def _on_data(self, conn: _Connection, frame: dict[str, Any], now: int) -> None:
        channel = frame.get("channel")
        if not isinstance(channel, str) or channel not in conn.channels:
            return
        tally = conn.tallies.get(channel)
        if tally is None:
            tally = conn.tallies[channel] = Tally()
        data = frame["data"]
        seq = int(frame.get("seq") or 0)
        tally.record(int(data["n"]), seq)
        self.latency.add(now - int(data["t"]))
        self.deliveries += 1
        self.controls.progress[self.plan.slot] = self.deliveries
        if not self.first_ns:
            self.first_ns = now
        self.last_ns = now

        # After a return, count replayed messages and note when the gap closed.
        back = conn.returns.get(channel) if conn.returns else None
        if back is not None and back.acked_ns and back.recovered:
            if back.since < seq <= back.ack_seq:
                back.replayed += 1
            if back.caught_up_ns is None and seq >= back.ack_seq:
                back.caught_up_ns = now

    def _error(self, text: str) -> None:
        if len(self.errors) < _MAX_ERRORS:
            self.errors.append(text)

    def _report(self, ok: int, cpu_s: float) -> SubscriberReport:
        unique: dict[int, int] = {}
        duplicated = out_of_order = 0
        returns: list[ReconnectRecord] = []
        for conn in self.connections:
            for channel, tally in conn.tallies.items():
                index = conn.channels[channel]
                unique[index] = unique.get(index, 0) + tally.unique
                duplicated += tally.duplicated
                out_of_order += tally.out_of_order
            for back in conn.returns.values():
                returns.append(
                    ReconnectRecord(
                        dropped_ns=back.dropped_ns,
                        acked_ns=back.acked_ns,
                        recovered_flag=back.recovered,
                        missed=max(back.ack_seq - back.since, 0),
                        replayed=back.replayed,
                        caught_up_ns=back.caught_up_ns,
                    )
                )
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return SubscriberReport(
            slot=self.plan.slot,
            connections_ok=ok,
            connections_failed=self.failed,
            setup_s=tuple(self.setup_s),
            deliveries=self.deliveries,
            duplicated=duplicated,
            out_of_order=out_of_order,
            unique_per_channel=unique,
            latency_ns=self.latency.values.tobytes(),
            latency_stride=self.latency.stride,
            first_ns=self.first_ns,
            last_ns=self.last_ns,
            error_frames=self.error_frames,
            cpu_s=cpu_s,
            peak_rss=usage.ru_maxrss * 1024,
            errors=tuple(self.errors),
            reconnects=tuple(returns),
        )


def subscriber_main(plan: SubscriberPlan, controls: Controls) -> None:
    """Entry point of a subscriber process: run the plan, put the report."""
    try:
        import uvloop
    except ImportError:
        report = asyncio.run(_Subscribers(plan, controls).run())
    else:
        report = uvloop.run(_Subscribers(plan, controls).run())
    controls.results.put(report)
