"""One run: start the load processes, let them connect, publish, drain, collect.

The harness process only coordinates. It spawns ``procs`` subscriber
processes (connections dealt round-robin) and one publisher process, waits
until all are connected, releases the publisher, and watches the shared
progress array until every expected delivery has arrived, nothing has arrived
for ``drain_s`` seconds, or the run's deadline passes.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Any

from benchmarks.load.controls import Controls
from benchmarks.load.plan import (
    PublisherPlan,
    PublisherReport,
    SubscriberPlan,
    SubscriberReport,
)
from benchmarks.load.publisher import publisher_main
from benchmarks.load.subscriber import subscriber_main
from benchmarks.sampler import MemoryReading, ProcessTreeSampler

__all__ = ["LoadSpec", "RawRun", "RunAborted", "run_load"]

Progress = Callable[[str, int, int], None]


class RunAborted(RuntimeError):
    """The load processes did not connect or did not report in time."""


@dataclass(frozen=True)
class LoadSpec:
    """The load of one run, independent of the target.

    ``expected_deliveries`` is only for the progress bar. ``settle_s`` is an
    idle pause after connecting, before memory is read (the connect scenario).
    ``drop_at_s`` and ``drop_gap_s`` make subscribers drop and return.
    """

    channels: tuple[str, ...]
    connections: tuple[tuple[int, ...], ...]
    publisher: PublisherPlan | None
    expected_deliveries: int
    procs: int = 2
    connect_concurrency: int = 100
    settle_s: float = 0.0
    drain_s: float = 3.0
    drop_at_s: float | None = None
    drop_gap_s: float = 0.5
    deadline_s: float = 300.0
    tokens: tuple[str, ...] | None = None


@dataclass
class RawRun:
    """Everything a run measured, before it is summarized."""

    subscribers: list[SubscriberReport]
    publisher: PublisherReport | None
    storm_start: float
    storm_end: float
    go: float
    end: float
    memory_before: MemoryReading
    memory_idle: MemoryReading
    fanout: list[int] = field(default_factory=list)
    load_pids: list[int] = field(default_factory=list)
    timed_out: bool = False


def _subscriber_plans(spec: LoadSpec, url: str) -> list[SubscriberPlan]:
    procs = max(1, min(spec.procs, len(spec.connections)))
    return [
        SubscriberPlan(
            slot=slot,
            url=url,
            channels=spec.channels,
            connections=spec.connections[slot::procs],
            connect_concurrency=spec.connect_concurrency,
            deadline_s=spec.deadline_s,
            drop_gap=spec.drop_gap_s if spec.drop_at_s is not None else None,
            tokens=spec.tokens[slot::procs] if spec.tokens else None,
        )
        for slot in range(procs)
    ]


def run_load(
    spec: LoadSpec,
    url: str,
    sampler: ProcessTreeSampler,
    progress: Progress | None = None,
) -> RawRun:
    """Run ``spec`` against the WebSocket ``url``; ``sampler`` watches the server."""
    report = progress or (lambda phase, done, total: None)
    ctx = multiprocessing.get_context("spawn")
    plans = _subscriber_plans(spec, url)
    controls = Controls.create(ctx, len(plans), len(spec.channels))
    workers: list[BaseProcess] = [
        ctx.Process(target=subscriber_main, args=(plan, controls), daemon=True)
        for plan in plans
    ]
    if spec.publisher is not None:
        workers.append(
            ctx.Process(
                target=publisher_main, args=(spec.publisher, controls), daemon=True
            )
        )
    for worker in workers:
        worker.start()
    try:
        return _drive(spec, controls, sampler, workers, report)
    finally:
        controls.stop.set()
        for worker in workers:
            worker.join(timeout=10)
            if worker.is_alive():
                worker.kill()


def _drive(
    spec: LoadSpec,
    controls: Controls,
    sampler: ProcessTreeSampler,
    workers: list[BaseProcess],
    report: Progress,
) -> RawRun:
    # Read the server's memory once every load process runs, then connect.
    deadline = time.monotonic() + spec.deadline_s
    subscriber_procs = len(workers) - (spec.publisher is not None)
    spawned = connected_procs = connected = 0
    publisher_ready = spec.publisher is None
    storm_start, storm_end = float("inf"), 0.0
    total = len(spec.connections)
    while spawned < subscriber_procs:
        kind, *_rest = _get(controls.ready, deadline, "load processes did not start")
        spawned += kind == "spawned"
        publisher_ready = publisher_ready or kind == "publisher"
    memory_before = sampler.memory_now()
    controls.connect.set()

    # Wait for every process to connect: this is the connection storm.
    while connected_procs < subscriber_procs or not publisher_ready:
        message = _get(controls.ready, deadline, "load processes did not connect")
        kind, _slot, started, ended, count = message
        if kind == "publisher":
            publisher_ready = True
        elif kind == "subscriber":
            storm_start, storm_end = min(storm_start, started), max(storm_end, ended)
            connected += count
            connected_procs += 1
            report("connect", connected, total)
    if spec.settle_s:
        time.sleep(spec.settle_s)
    memory_idle = sampler.memory_now()
    fanout = list(controls.fanout[:])

    # Publish, and schedule the drop for the reconnect scenario.
    sampler.cpu_now()
    go = time.time()
    controls.go.set()
    publisher: PublisherReport | None = None
    drop_at = None if spec.drop_at_s is None else time.monotonic() + spec.drop_at_s
    last_count, last_change = -1, time.monotonic()
    timed_out = spec.publisher is None
    while spec.publisher is not None:
        now = time.monotonic()
        delivered = controls.delivered()
        if delivered != last_count:
            last_count, last_change = delivered, now
        if drop_at is not None and now >= drop_at:
            controls.drop.set()
            drop_at = None
        if publisher is None:
            with contextlib.suppress(queue.Empty):
                publisher = controls.published.get_nowait()
        report("deliver", delivered, spec.expected_deliveries)
        if publisher is not None:
            expected = sum(
                sent * fanout[index]
                for index, sent in publisher.sent_per_channel.items()
            )
            if delivered >= expected:
                sampler.cpu_now()
                break
            if now - last_change > spec.drain_s:
                break
        if now > deadline:
            timed_out = True
            break
        time.sleep(0.02)
    end = time.time()

    # Collect the subscriber reports once they have closed their sockets.
    controls.stop.set()
    reports: list[SubscriberReport] = []
    for _ in range(len(workers) - (spec.publisher is not None)):
        reports.append(_get(controls.results, time.monotonic() + 60, "no report"))
    return RawRun(
        subscribers=sorted(reports, key=lambda r: r.slot),
        publisher=publisher,
        storm_start=storm_start,
        storm_end=storm_end,
        go=go,
        end=end,
        memory_before=memory_before,
        memory_idle=memory_idle,
        fanout=fanout,
        load_pids=[w.pid for w in workers if w.pid is not None],
        timed_out=timed_out and spec.publisher is not None,
    )


def _get(source: Any, deadline: float, why: str) -> Any:
    # A blocking get that gives up at the deadline, so a dead process cannot hang us.
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RunAborted(why)
        try:
            return source.get(timeout=min(remaining, 1.0))
        except queue.Empty:
            continue
