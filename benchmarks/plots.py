"""PNG plots: throughput against subscribers, and latency distributions.

Matplotlib runs with the Agg backend, so no display is needed. A throughput
plot is drawn only for a scenario and mode measured at several sizes.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

__all__ = ["plot_latency", "plot_throughput"]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_throughput(records: list[dict[str, Any]], path: Path) -> Path | None:
    """Deliveries/s and deliveries per server CPU-second against subscribers."""
    groups: dict[tuple[str, str], dict[str, list[tuple[int, dict[str, Any]]]]] = (
        defaultdict(lambda: defaultdict(list))
    )
    for r in records:
        if r.get("status") == "ok" and r["deliveries"]:
            groups[(r["scenario"], r["mode"])][r["target"]].append(
                (r["subscribers"], r)
            )
    groups_to_draw = {
        key: by_target
        for key, by_target in groups.items()
        if len({n for points in by_target.values() for n, _ in points}) > 1
    }
    if not groups_to_draw:
        return None
    plt = _pyplot()
    rows = len(groups_to_draw)
    fig, axes = plt.subplots(rows, 2, figsize=(11, 3.8 * rows), squeeze=False)
    for row, ((scenario, mode), by_target) in enumerate(sorted(groups_to_draw.items())):
        for target, points in sorted(by_target.items()):
            points.sort(key=lambda p: p[0])
            xs = [n for n, _ in points]
            axes[row][0].plot(
                xs, [r["deliveries_per_s"] for _, r in points], "o-", label=target
            )
            per_cpu = [r["deliveries_per_server_cpu_s"] or 0 for _, r in points]
            axes[row][1].plot(xs, per_cpu, "o-", label=target)
        for col, title in enumerate(("deliveries/s", "deliveries per server CPU-s")):
            axis = axes[row][col]
            axis.set_title(f"{scenario} {mode}: {title}")
            axis.set_xlabel("subscribers")
            axis.set_xscale("log")
            axis.grid(True, alpha=0.3)
            axis.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_latency(samples: list[tuple[str, list[int]]], path: Path) -> Path | None:
    """One cumulative distribution per ``(label, latencies in ns)``."""
    drawn = [(label, values) for label, values in samples if values]
    if not drawn:
        return None
    plt = _pyplot()
    fig, axis = plt.subplots(figsize=(9, 5))
    for label, values in drawn:
        # A couple of thousand quantiles draw the same curve as a million points.
        ordered = sorted(values)
        n = len(ordered)
        step = max(1, n // 2000)
        xs = [v / 1e6 for v in ordered[::step]]
        ys = [(i * step + 1) / n for i in range(len(xs))]
        axis.plot(xs, ys, label=label)
    axis.set_xscale("log")
    axis.set_xlabel("end-to-end latency, ms (log)")
    axis.set_ylabel("fraction of deliveries")
    axis.set_title("latency distribution")
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
