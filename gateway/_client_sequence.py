"""Per-channel sequence bookkeeping: what to deliver, what to drop, when to recover.

A room numbers each channel's messages 1, 2, 3, ... within one *epoch* (one
life of the room). The client remembers the last number it delivered and
judges every data frame against it:

* ``seq <= last``: a duplicate (a replay overlapping what was delivered); drop.
* ``seq == last + 1``: the next message; deliver.
* ``seq > last + 1``: a gap; ask the room again with ``since=last`` and drop
  frames past the gap until the answer comes, since the replay resends them.

An answer that says ``recovered`` promises the replay next, in order. A first
frame after it that still skips ahead breaks the promise: it is delivered and
reported as a loss rather than asked for again, so a room that cannot keep
its word does not draw a subscribe per frame.

No I/O and no clock: the socket layer feeds frames in and acts on verdicts.
"""

from __future__ import annotations

import enum

__all__ = ["ChannelSequence", "Verdict"]


class Verdict(enum.Enum):
    """What to do with one data frame."""

    DELIVER = "deliver"
    DUPLICATE = "duplicate"
    GAP = "gap"
    SKIP = "skip"
    LOST = "lost"


class ChannelSequence:
    """The sequence state of one subscribed channel on one client.

    ``last`` is ``None`` until the first acknowledgement; afterwards it is the
    seq of the last message handed to the application (or the channel's seq at
    subscription time). ``pending`` is true between a subscribe frame and its
    acknowledgement.
    """

    __slots__ = ("_replay_to", "epoch", "last", "pending")

    def __init__(self) -> None:
        self.last: int | None = None
        self.epoch: str | None = None
        self.pending = False
        self._replay_to: int | None = None

    def request(self) -> int | None:
        """Mark a subscribe as sent and return the ``since`` it must carry.

        ``None`` for a first subscription, the last delivered seq otherwise.
        """
        self.pending = True
        self._replay_to = None
        return self.last

    def socket_lost(self) -> None:
        """Forget the request in flight: its answer died with the socket."""
        self.pending = False

    def on_data(self, seq: int) -> Verdict:
        """Judge a data frame; a ``DELIVER`` verdict advances ``last``."""
        if self.last is None:
            return Verdict.SKIP
        if seq <= self.last:
            return Verdict.DUPLICATE
        if seq == self.last + 1:
            self.last = seq
            if self._replay_to is not None and seq >= self._replay_to:
                self._replay_to = None
            return Verdict.DELIVER

        # Past a gap. While a recovery is already asked for, its replay will
        # resend this frame in order, so it is dropped here.
        if self.pending:
            return Verdict.SKIP
        if self._replay_to is not None:
            self.last, self._replay_to = seq, None
            return Verdict.LOST
        return Verdict.GAP

    def on_ack(self, seq: int, recovered: bool, epoch: str | None) -> bool:
        """Take an acknowledgement; return ``False`` when messages may be lost.

        An acknowledgement that answers no request of ours comes from a
        gateway that re-registered the subscription after the room restarted.
        """
        self.pending = False

        # A first subscription starts at the channel's current seq.
        if self.last is None:
            self.last, self.epoch = seq, epoch
            return True

        # Continuity holds only if the room says so, in the same life, and its
        # latest seq is not behind what was already delivered (a room that
        # lost its history and numbers again without an epoch).
        same_life = epoch is None or self.epoch is None or epoch == self.epoch
        continuous = recovered and same_life and seq >= self.last
        if not continuous:
            self.last = seq
        self._replay_to = seq if seq > self.last else None
        self.epoch = epoch if epoch is not None else self.epoch
        return continuous
