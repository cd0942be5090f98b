"""The Markdown table printed at the end of a run, and the results file."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["markdown_table", "write_jsonl"]

_HEADER = (
    "| target | case | deliveries/s | per server CPU-s | vs plain | p50 ms | p99 ms "
    "| max ms | lost | dup | ooo | setup p99 ms | server CPU s | server PSS MB "
    "| load CPU s | extra |"
)


def _number(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _extra(record: dict[str, Any]) -> str:
    parts: list[str] = []
    memory = record.get("memory")
    if memory:
        parts.append(f"{memory['per_connection_kb_uss']:.1f} KB USS/conn")
        parts.append(f"storm {record['storm_s']:.2f} s")
    if "publishes_per_s" in record:
        via = record.get("publish_via")
        parts.append(f"{record['publishes_per_s']:,.0f} publishes/s via {via}")
    back = record.get("reconnect")
    if back:
        if back["can_recover"]:
            parts.append(
                f"recovered {back['replayed']}/{back['missed']}, "
                f"p99 {back['recover_ms']['p99']:.0f} ms"
            )
        else:
            parts.append(f"cannot recover ({back['missed']} missed)")
    if record.get("stalls"):
        parts.append(f"{record['stalls']} stalls")
    if record.get("connections_failed"):
        parts.append(f"{record['connections_failed']} connects failed")
    return "; ".join(parts)


def markdown_table(records: Iterable[dict[str, Any]]) -> str:
    """One row per run; unavailable targets and failed runs say so."""
    lines = [_HEADER, "|" + "---|" * (_HEADER.count("|") - 1)]
    for r in records:
        status = r.get("status")
        if status != "ok":
            why = r.get("reason") or r.get("error") or ""
            case = r.get("label", r.get("scenario", ""))
            lines.append(f"| {r['target']} | {case} | {status}: {why} |" + " |" * 13)
            continue
        ratio = (r.get("vs_plain") or {}).get("deliveries_per_server_cpu_s")
        cells = [
            r["target"],
            r["label"],
            _number(r["deliveries_per_s"], 0),
            _number(r["deliveries_per_server_cpu_s"], 0),
            f"{ratio:.2f}x" if ratio else "-",
            _number(r["latency_ms"]["p50"], 2),
            _number(r["latency_ms"]["p99"], 2),
            _number(r["latency_ms"]["max"], 1),
            _number(r["lost"]),
            _number(r["duplicated"]),
            _number(r["out_of_order"]),
            _number(r["setup_ms"]["p99"], 1),
            _number(r["server"]["cpu_s"], 2),
            _number(r["server"]["peak_pss_mb"], 0),
            _number(r["load"]["cpu_s"], 2),
            _extra(r),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """Append ``records`` to ``path``, one JSON object per line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as out:
        for record in records:
            out.write(json.dumps(record, sort_keys=True) + "\n")
