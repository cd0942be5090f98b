"""What rooms cost: get-or-create latency, memory per idle room, fan-out throughput.

Run from the repository root::

    python -m benchmarks.room_costs            # full sizes
    python -m benchmarks.room_costs --tiny     # seconds, for CI

It starts a local Ray (dashboard off) and measures, in one run:

- cold and warm get-or-create of a room in a shard host and as a dedicated
  actor (cold: the host does not exist yet; warm: its handle is cached);
- memory per idle room in a shard: the shard's unique memory (USS) grown by
  creating many rooms, divided by their number;
- publish-to-delivery throughput from one room to one subscriber actor, one
  message per publish call and in batches, counted when the subscriber has
  received every message.

Figures are printed as a Markdown table and written as JSON lines with
``--out``. Every figure is of this machine on this run; compare ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")


def _uss(pid: int) -> int:
    """Unique set size of a process, in bytes, from /proc."""
    total = 0
    with open(f"/proc/{pid}/smaps_rollup") as smaps:
        for line in smaps:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1]) * 1024
    return total


async def _time_room(directory: Any, channel: str) -> tuple[float, float]:
    """Cold then warm get-or-create of ``channel``'s room, in seconds."""
    _, ref = directory.resolve(channel)
    started = time.perf_counter()
    await directory.host(ref)
    await directory.call(ref, "ping")
    cold = time.perf_counter() - started
    started = time.perf_counter()
    await directory.host(ref)
    await directory.call(ref, "ping")
    warm = time.perf_counter() - started
    return cold, warm


async def measure(
    rooms: int, messages: int, batch: int, repeats: int
) -> list[dict[str, Any]]:
    import ray

    from partyray.actors import (
        DirectoryConfig,
        PublishItem,
        RoomConfig,
        RoomDirectory,
        allow_all,
    )
    from partyray.partitioning import Dedicated, RemultPartykit

    def step(text: str) -> None:
        print(f"... {text}", file=sys.stderr, flush=True)

    rows: list[dict[str, Any]] = []
    namespace = f"room-costs-{time.time_ns()}"
    strategy = Dedicated(RemultPartykit(), lambda name: name.startswith("room:hot"))
    config = DirectoryConfig(
        namespace=namespace, shards=repeats, room=RoomConfig(check=allow_all)
    )
    directory = RoomDirectory(strategy, config)

    # Get-or-create: each repeat is a new shard (cold) or a new dedicated actor.
    for kind, channel_of in (
        ("shard", lambda i: f"c?roomId=cold{i}"),
        ("dedicated", lambda i: f"c?roomId=hot{i}"),
    ):
        colds, warms = [], []
        seen: set[str] = set()
        for i in range(repeats * 8):
            channel = channel_of(i)
            _, ref = directory.resolve(channel)
            if ref.name in seen:
                continue
            seen.add(ref.name)
            cold, warm = await _time_room(directory, channel)
            colds.append(cold)
            warms.append(warm)
            if len(colds) == repeats:
                break
        rows.append(
            {
                "measure": f"get-or-create, {kind}",
                "cold_ms": round(statistics.median(colds) * 1000, 2),
                "warm_ms": round(statistics.median(warms) * 1000, 3),
                "n": len(colds),
            }
        )

    step(f"memory of {rooms} idle rooms")
    # Memory per idle room: one shard, many rooms created inside it.
    single = RoomDirectory(
        RemultPartykit(),
        DirectoryConfig(
            namespace=f"{namespace}-mem", shards=1, room=RoomConfig(check=allow_all)
        ),
    )
    _, ref = single.resolve("c?roomId=first")
    handle = await single.host(ref)
    pid = await handle.__ray_call__.remote(lambda self: os.getpid())
    await single.publish([PublishItem("c?roomId=first", 0)])
    before = _uss(pid)
    chunk = 1000
    for start in range(0, rooms, chunk):
        await single.publish(
            [
                PublishItem(f"c?roomId=idle{i}", 0)
                for i in range(start, min(rooms, start + chunk))
            ]
        )
    after = _uss(pid)
    rows.append(
        {
            "measure": "memory per idle room in a shard",
            "bytes_per_room": round((after - before) / rooms),
            "rooms": rooms,
            "shard_uss_mb": round(after / 2**20, 1),
        }
    )

    # Throughput: one room to one subscriber, single messages and batches.
    @ray.remote(num_cpus=0)
    class Sink:
        def __init__(self, target: int) -> None:
            self.count = 0
            self.calls = 0
            self.target = target
            self.done = asyncio.Event()

        async def deliver(self, host: str, incarnation: str, batch: list[Any]) -> None:
            self.count += len(batch)
            self.calls += 1
            if self.count >= self.target:
                self.done.set()

        async def ready(self) -> None:
            return None

        async def finished(self) -> tuple[int, int]:
            await self.done.wait()
            return self.count, self.calls

    for size in (1, batch):
        step(f"throughput, {messages} messages in publishes of {size}")
        sink = Sink.remote(messages)
        await sink.ready.remote()
        channel = f"c?roomId=tp{size}"
        await single.subscribe(channel, "sink", sink, None)
        payload = {"text": "x" * 100}
        started = time.perf_counter()
        sent = 0
        window: list[Any] = []
        while sent < messages:
            items = [
                PublishItem(channel, payload) for _ in range(min(size, messages - sent))
            ]
            window.append(single.publish(items))
            sent += len(items)
            if len(window) >= 64:
                await asyncio.gather(*window)
                window = []
        await asyncio.gather(*window)
        count, calls = await sink.finished.remote()
        elapsed = time.perf_counter() - started
        mode = "single" if size == 1 else f"batch {size}"
        rows.append(
            {
                "measure": f"publish to delivery, {mode}",
                "messages_per_s": round(count / elapsed),
                "delivery_calls": calls,
                "messages": count,
            }
        )
        ray.kill(sink)
    return rows


def _table(rows: list[dict[str, Any]]) -> str:
    lines = ["| measure | figures |", "|---|---|"]
    for row in rows:
        figures = ", ".join(f"{k} {v}" for k, v in row.items() if k != "measure")
        lines.append(f"| {row['measure']} | {figures} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.room_costs")
    parser.add_argument("--tiny", action="store_true", help="run in seconds (CI)")
    parser.add_argument("--rooms", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None, help="JSON lines file")
    args = parser.parse_args(argv)
    if args.tiny:
        args.rooms, args.messages, args.repeats = 200, 500, 2

    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        rows = asyncio.run(measure(args.rooms, args.messages, args.batch, args.repeats))
    finally:
        ray.shutdown()
    print(_table(rows))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("a") as out:
            for row in rows:
                out.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
