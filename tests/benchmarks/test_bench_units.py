"""The pure parts of the benchmark harness: tallies, samples, percentiles, sizes."""

from __future__ import annotations

import sys
from array import array
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.load.tally import LatencySample, Tally  # noqa: E402
from benchmarks.scenarios import Options, cases  # noqa: E402
from benchmarks.stats import merge_samples, percentiles  # noqa: E402


def test_tally_counts_duplicates_and_late_arrivals() -> None:
    """A repeat is a duplicate; an older counter after a newer one is out of order."""
    tally = Tally()
    for counter in (1, 2, 4, 3, 3, 500):
        tally.record(counter, counter)
    assert tally.received == 6
    assert tally.duplicated == 1
    assert tally.out_of_order == 1
    assert tally.unique == 5
    assert tally.last_seq == 500


def test_latency_sample_stays_bounded() -> None:
    """Past its cap the sample halves itself and keeps every second value."""
    sample = LatencySample(cap=100)
    for value in range(1000):
        sample.add(value)
    assert len(sample.values) < 100
    assert sample.stride >= 8


def test_percentiles_are_nearest_rank() -> None:
    """p50 of 1..100 is 50, p99 is 99, and an empty sample is all zeros."""
    figures = percentiles(list(range(1, 101)))
    assert (figures.p50, figures.p95, figures.p99, figures.max) == (50, 95, 99, 100)
    assert percentiles([]).count == 0


def test_merge_thins_to_the_widest_stride() -> None:
    """A sample kept at stride 1 is thinned to match one kept at stride 2."""
    dense = array("q", range(10)).tobytes()
    sparse = array("q", [100, 200]).tobytes()
    merged = merge_samples([(dense, 1), (sparse, 2)])
    assert merged == [0, 2, 4, 6, 8, 100, 200]


def test_cases_follow_sizes_and_modes() -> None:
    """Several sizes give a case each per mode; users get one room per user."""
    fanout = cases("fanout", Options(subscribers=(10, 20)))
    assert [(c.subscribers, c.mode) for c in fanout] == [
        (10, "saturated"),
        (10, "rate"),
        (20, "saturated"),
        (20, "rate"),
    ]
    (users,) = cases("users", Options(subscribers=(30,)))
    assert users.rooms == 30 and users.connections == 30
    rate = cases("fanout", Options(modes=("rate",), rate=5, duration=2))[0]
    assert rate.messages == 10
