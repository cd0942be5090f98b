"""Percentiles and the merging of latency samples from several processes."""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from dataclasses import asdict, dataclass

__all__ = ["Percentiles", "merge_samples", "percentiles"]


@dataclass(frozen=True)
class Percentiles:
    """Nearest-rank percentiles of a sample, in the sample's unit."""

    count: int
    mean: float
    p50: float
    p95: float
    p99: float
    max: float

    def scaled(self, factor: float) -> dict[str, float]:
        """The figures multiplied by ``factor`` (e.g. ns to ms), count kept."""
        figures = asdict(self)
        return {
            k: (v if k == "count" else round(v * factor, 3)) for k, v in figures.items()
        }


def percentiles(values: Sequence[float]) -> Percentiles:
    """Nearest-rank p50, p95, p99 and max; all zero for an empty sample."""
    if not values:
        return Percentiles(0, 0.0, 0.0, 0.0, 0.0, 0.0)
    ordered = sorted(values)
    n = len(ordered)

    def rank(p: float) -> float:
        return float(ordered[min(n - 1, max(0, math.ceil(p * n) - 1))])

    return Percentiles(
        count=n,
        mean=sum(ordered) / n,
        p50=rank(0.50),
        p95=rank(0.95),
        p99=rank(0.99),
        max=float(ordered[-1]),
    )


def merge_samples(samples: Sequence[tuple[bytes, int]]) -> list[int]:
    """Merge ``(array bytes, stride)`` samples, thinning all to the largest stride.

    A process that kept every 4th latency and one that kept every one are
    merged by keeping every 4th of the second, so each process weighs by how
    many latencies it saw.
    """
    if not samples:
        return []
    widest = max(stride for _data, stride in samples)
    merged: list[int] = []
    for data, stride in samples:
        values = array("q")
        values.frombytes(data)
        step = max(1, widest // max(stride, 1))
        merged.extend(values[::step])
    return merged
