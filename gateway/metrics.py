"""Gateway counters, their frozen snapshot, and the Prometheus text of both."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field, fields

__all__ = ["GatewayMetrics", "GatewayStatistics", "render_prometheus"]

#: Upper bounds, in seconds, of the publish latency histogram's buckets.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass
class GatewayMetrics:
    """The live counters of one gateway; read them through ``snapshot``."""

    connections_opened: int = 0
    connections_closed: int = 0
    connections_refused: int = 0
    subscriptions: int = 0
    subscriptions_refused: int = 0
    frames_in: int = 0
    frames_out: int = 0
    protocol_errors: int = 0
    delivery_batches: int = 0
    deliveries_in: int = 0
    deliveries_out: int = 0
    dropped: int = 0
    slow_consumer_closes: int = 0
    gaps: int = 0
    unrecovered: int = 0
    room_restarts: int = 0
    client_publishes: int = 0
    http_publishes: int = 0
    http_publish_errors: int = 0
    publish_latency_buckets: list[int] = field(
        default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1)
    )
    publish_latency_sum: float = 0.0

    def observe_publish(self, seconds: float) -> None:
        """Count one HTTP publish that took ``seconds``."""
        self.http_publishes += 1
        self.publish_latency_sum += seconds
        self.publish_latency_buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1

    def snapshot(
        self, connections: int, links: int = 0, link_deliveries: int = 0
    ) -> GatewayStatistics:
        """The counters now, frozen, with the gauges given."""
        given = ("connections", "links", "link_deliveries", "publish_latency_buckets")
        values = {
            f.name: getattr(self, f.name)
            for f in fields(GatewayStatistics)
            if f.name not in given
        }
        return GatewayStatistics(
            connections=connections,
            links=links,
            link_deliveries=link_deliveries,
            publish_latency_buckets=tuple(self.publish_latency_buckets),
            **values,
        )


@dataclass(frozen=True)
class GatewayStatistics:
    """A snapshot of one gateway's counters."""

    connections: int
    connections_opened: int
    connections_closed: int
    connections_refused: int
    subscriptions: int
    subscriptions_refused: int
    frames_in: int
    frames_out: int
    protocol_errors: int
    delivery_batches: int
    deliveries_in: int
    deliveries_out: int
    dropped: int
    slow_consumer_closes: int
    gaps: int
    unrecovered: int
    room_restarts: int
    client_publishes: int
    http_publishes: int
    http_publish_errors: int
    links: int
    link_deliveries: int
    publish_latency_buckets: tuple[int, ...]
    publish_latency_sum: float


_HELP = {
    "connections": ("gauge", "open client connections"),
    "subscriptions": ("gauge", "acknowledged subscriptions"),
    "links": ("gauge", "open links to room hosts"),
    "link_deliveries": ("counter", "deliveries that arrived over links"),
}


def render_prometheus(stats: GatewayStatistics, labels: str = "") -> str:
    """The Prometheus text exposition of ``stats``; ``labels`` like ``gateway="0"``."""
    tag = f"{{{labels}}}" if labels else ""
    lines = []
    for f in fields(stats):
        if f.name.startswith("publish_latency"):
            continue
        kind, text = _HELP.get(f.name, ("counter", f.name.replace("_", " ")))
        name = f"partyray_{f.name}" + ("_total" if kind == "counter" else "")
        lines.append(f"# HELP {name} {text}")
        lines.append(f"# TYPE {name} {kind}")
        lines.append(f"{name}{tag} {getattr(stats, f.name)}")
    name = "partyray_publish_latency_seconds"
    lines.append(f"# HELP {name} time to answer an HTTP publish")
    lines.append(f"# TYPE {name} histogram")
    cumulative = 0
    sep = f"{labels}," if labels else ""
    for bound, count in zip(
        (*LATENCY_BUCKETS, float("inf")), stats.publish_latency_buckets, strict=True
    ):
        cumulative += count
        le = "+Inf" if bound == float("inf") else repr(bound)
        lines.append(f'{name}_bucket{{{sep}le="{le}"}} {cumulative}')
    lines.append(f"{name}_sum{tag} {stats.publish_latency_sum}")
    lines.append(f"{name}_count{tag} {cumulative}")
    return "\n".join(lines) + "\n"
