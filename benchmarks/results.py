"""Turning a :class:`~benchmarks.load.runner.RawRun` into one results record.

A record is a flat-ish JSON object, one line of the results file. The
headline is ``deliveries_per_server_cpu_s``: deliveries divided by the CPU
seconds every server process spent between the first publish and the last
delivery. Load processes share the same cores, so wall-clock rates alone
would flatter whichever side the scheduler favoured.
"""

from __future__ import annotations

import os
import platform
import time
from importlib import metadata
from typing import Any

from benchmarks.load.runner import LoadSpec, RawRun
from benchmarks.sampler import ProcessTreeSampler
from benchmarks.scenarios import Case
from benchmarks.stats import merge_samples, percentiles
from benchmarks.targets.base import Endpoint

__all__ = ["machine", "ratios_against_plain", "summarize"]

_MB = 1024 * 1024


def summarize(
    case: Case,
    spec: LoadSpec,
    endpoint: Endpoint,
    raw: RawRun,
    sampler: ProcessTreeSampler,
) -> tuple[dict[str, Any], list[int]]:
    """The record of one run, and its merged latency sample in nanoseconds."""
    subs, pub = raw.subscribers, raw.publisher
    sampler.cpu_now()

    # Deliveries against what the publisher's counters say should have arrived.
    deliveries = sum(s.deliveries for s in subs)
    unique = sum(sum(s.unique_per_channel.values()) for s in subs)
    expected = 0
    if pub is not None:
        fanout = raw.fanout
        expected = sum(n * fanout[c] for c, n in pub.sent_per_channel.items())
    last_ns = max((s.last_ns for s in subs), default=0)
    first_ns = pub.first_ns if pub is not None and pub.first_ns else 0

    # The measured window: first publish to last delivery (or the storm).
    if first_ns and last_ns > first_ns:
        start, end = first_ns / 1e9, last_ns / 1e9
    elif case.scenario == "connect":
        start, end = raw.storm_start, raw.storm_end
    else:
        start, end = raw.go, raw.end
    window = max(end - start, 1e-9)
    server_cpu = max(sampler.cpu_at(end) - sampler.cpu_at(start), 0.0)
    peak = sampler.peak_memory(min(raw.storm_start, raw.go), raw.end)
    latencies = merge_samples([(s.latency_ns, s.latency_stride) for s in subs])
    setup = [t for s in subs for t in s.setup_s]
    ok = sum(s.connections_ok for s in subs)
    failed = sum(s.connections_failed for s in subs)
    load_cpu = sum(s.cpu_s for s in subs) + (pub.cpu_s if pub else 0.0)
    load_rss = sum(s.peak_rss for s in subs) + (pub.peak_rss if pub else 0)
    errors = [e for s in subs for e in s.errors] + list(pub.errors if pub else ())

    record: dict[str, Any] = {
        "status": "ok",
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "target": endpoint.name,
        "scenario": case.scenario,
        "mode": case.mode,
        "label": case.label,
        "subscribers": case.subscribers,
        "rooms": case.rooms,
        "connections": case.connections,
        "rate": case.rate if case.mode == "rate" else None,
        "publish_via": spec.publisher.via if spec.publisher else None,
        "messages_sent": sum(pub.sent_per_channel.values()) if pub else 0,
        "expected_deliveries": expected,
        "deliveries": deliveries,
        "lost": max(expected - unique, 0),
        "duplicated": sum(s.duplicated for s in subs),
        "out_of_order": sum(s.out_of_order for s in subs),
        "error_frames": sum(s.error_frames for s in subs)
        + (pub.error_frames if pub else 0),
        "stalls": pub.stalls if pub else 0,
        "timed_out": raw.timed_out,
        "window_s": round(window, 4),
        "deliveries_per_s": round(deliveries / window, 1) if deliveries else 0.0,
        "latency_ms": percentiles(latencies).scaled(1e-6),
        "setup_ms": percentiles(setup).scaled(1e3),
        "connections_ok": ok,
        "connections_failed": failed,
        "storm_s": round(max(raw.storm_end - raw.storm_start, 0.0), 3),
        "server": {
            "cpu_s": round(server_cpu, 3),
            "cpu_s_by_process": sampler.cpu_by_process(start, end),
            "peak_rss_mb": round(peak.rss / _MB, 1),
            "peak_pss_mb": round(peak.pss / _MB, 1),
            "processes": peak.processes,
        },
        "load": {"cpu_s": round(load_cpu, 3), "peak_rss_mb": round(load_rss / _MB, 1)},
        "deliveries_per_server_cpu_s": round(deliveries / server_cpu, 1)
        if server_cpu > 0 and deliveries
        else None,
        "notes": list(endpoint.notes),
        "errors": errors[:5],
    }
    if case.scenario == "connect":
        record["memory"] = _memory(raw, ok)
        record["connections_per_s"] = round(ok / max(record["storm_s"], 1e-9), 1)
    if case.scenario == "publish" and pub is not None:
        record["publishes_per_s"] = round(
            record["messages_sent"] / max((pub.last_ns - pub.first_ns) / 1e9, 1e-9), 1
        )
        record["http_requests"] = pub.requests
    if case.scenario == "reconnect":
        record["reconnect"] = _reconnect(raw, endpoint, spec.drop_gap_s)
    return record, latencies


def _memory(raw: RawRun, connections: int) -> dict[str, Any]:
    before, idle = raw.memory_before, raw.memory_idle
    per = max(connections, 1)
    return {
        "before_pss_mb": round(before.pss / _MB, 1),
        "idle_pss_mb": round(idle.pss / _MB, 1),
        "before_uss_mb": round(before.uss / _MB, 1),
        "idle_uss_mb": round(idle.uss / _MB, 1),
        "per_connection_kb_uss": round((idle.uss - before.uss) / per / 1024, 2),
        "per_connection_kb_pss": round((idle.pss - before.pss) / per / 1024, 2),
        "per_connection_kb_rss": round((idle.rss - before.rss) / per / 1024, 2),
    }


def _reconnect(raw: RawRun, endpoint: Endpoint, gap: float) -> dict[str, Any]:
    records = [r for s in raw.subscribers for r in s.reconnects]
    returned = [r for r in records if r.acked_ns]
    caught = [r for r in returned if r.caught_up_ns is not None]
    gap_ns = gap * 1e9
    recover = [
        (r.caught_up_ns - r.dropped_ns - gap_ns) / 1e9 for r in caught if r.caught_up_ns
    ]
    resubscribe = [(r.acked_ns - r.dropped_ns - gap_ns) / 1e9 for r in returned]
    missed = sum(r.missed for r in returned)
    replayed = sum(r.replayed for r in returned)
    return {
        "dropped": len(records),
        "returned": len(returned),
        "recovered_flag": sum(1 for r in returned if r.recovered_flag),
        "missed": missed,
        "replayed": replayed,
        "can_recover": endpoint.supports_since and len(caught) == len(returned),
        "resubscribe_ms": percentiles(resubscribe).scaled(1e3),
        "recover_ms": percentiles(recover).scaled(1e3),
    }


def ratios_against_plain(records: list[dict[str, Any]]) -> None:
    """Add ``vs_plain`` to every record that has a plain twin with the same label."""
    plain = {
        r["label"]: r
        for r in records
        if r.get("target") == "plain" and r.get("status") == "ok"
    }
    for record in records:
        twin = plain.get(record.get("label", ""))
        if twin is None or record.get("status") != "ok":
            continue
        ours, theirs = (
            record["deliveries_per_server_cpu_s"],
            twin["deliveries_per_server_cpu_s"],
        )
        p99, p99_plain = record["latency_ms"]["p99"], twin["latency_ms"]["p99"]
        record["vs_plain"] = {
            "deliveries_per_server_cpu_s": round(ours / theirs, 3)
            if ours and theirs
            else None,
            "latency_p99": round(p99 / p99_plain, 3) if p99 and p99_plain else None,
        }


def machine() -> dict[str, Any]:
    """The machine and the versions that matter, for the results file."""
    model = ""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(
                (
                    line.split(":", 1)[1].strip()
                    for line in cpuinfo
                    if line.startswith("model name")
                ),
                "",
            )
    except OSError:
        pass
    versions = {}
    for package in (
        "websockets",
        "ray",
        "uvicorn",
        "django",
        "channels",
        "channels-redis",
    ):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(memory_gb, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }
