"""Per-subscription bookkeeping of counters, and a bounded latency sample.

Every message carries the publisher's counter ``n`` for its channel (1, 2, ...).
A :class:`Tally` keeps one byte per counter value seen, so duplicates and
late arrivals are told apart exactly; memory is one byte per message per
subscription. :class:`LatencySample` keeps every latency until ``cap``, then
halves itself and keeps every second one from there on, so percentiles stay
unbiased over time while memory stays bounded.
"""

from __future__ import annotations

from array import array

__all__ = ["LatencySample", "Tally"]


class Tally:
    """Counters seen on one channel by one subscriber."""

    __slots__ = ("duplicated", "last", "last_seq", "out_of_order", "received", "seen")

    def __init__(self) -> None:
        self.seen = bytearray(64)
        self.received = 0
        self.duplicated = 0
        self.out_of_order = 0
        self.last = 0
        self.last_seq = 0

    def record(self, counter: int, seq: int) -> None:
        """Count one arrival of message ``counter`` numbered ``seq`` by the server."""
        self.received += 1
        if counter >= len(self.seen):
            self.seen.extend(bytes(max(counter + 1 - len(self.seen), len(self.seen))))
        if self.seen[counter]:
            self.duplicated += 1
            return
        self.seen[counter] = 1
        if counter < self.last:
            self.out_of_order += 1
        else:
            self.last = counter
        if seq > self.last_seq:
            self.last_seq = seq

    @property
    def unique(self) -> int:
        """Distinct messages received."""
        return self.received - self.duplicated


class LatencySample:
    """Latencies in nanoseconds, thinned by half whenever ``cap`` is reached."""

    def __init__(self, cap: int) -> None:
        self.cap = max(cap, 2)
        self.values = array("q")
        self.stride = 1
        self._skip = 0

    def add(self, value: int) -> None:
        """Offer one latency; every ``stride``-th is kept."""
        self._skip += 1
        if self._skip < self.stride:
            return
        self._skip = 0
        self.values.append(value)
        if len(self.values) >= self.cap:
            self.values = self.values[::2]
            self.stride *= 2
