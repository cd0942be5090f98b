"""The outbox: one subscriber's pending deliveries, bounded.

A host keeps one outbox per subscriber. Messages wait in it while the previous
delivery call to that subscriber is in flight; the next call takes them all at
once, for every channel and room of the host, so a subscriber gets one call per
flush however many messages arrived meanwhile.

The bound is ``limit`` messages. At the bound the oldest pending message is
dropped, logged and counted, never the newest: the subscriber sees a gap in
that channel's sequence numbers and recovers the dropped messages from the
room's history (or tells its connections that it cannot). Memory stays bounded
however slow a subscriber is, and a slow subscriber never slows another.
"""

from __future__ import annotations

import logging
from collections import deque

__all__ = ["DEFAULT_OUTBOX_LIMIT", "Delivery", "Outbox"]

logger = logging.getLogger("partyray.room")

#: One delivered message: (channel, seq, frame text).
Delivery = tuple[str, int, str]

#: The default bound of an outbox, in messages.
DEFAULT_OUTBOX_LIMIT = 10_000


class Outbox:
    """A subscriber's pending deliveries, at most ``limit`` of them."""

    __slots__ = ("_pending", "dropped", "limit", "subscriber")

    def __init__(self, subscriber: str, limit: int = DEFAULT_OUTBOX_LIMIT) -> None:
        if limit < 1:
            raise ValueError("outbox limit must be at least 1")
        self.subscriber = subscriber
        self.limit = limit
        self.dropped = 0
        self._pending: deque[Delivery] = deque()

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, delivery: Delivery) -> None:
        """Queue ``delivery``; at the bound, drop the oldest pending one."""
        if len(self._pending) >= self.limit:
            channel, seq, _ = self._pending.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                logger.warning(
                    "outbox of %s full at %d: dropped %s seq %d (%d dropped so far)",
                    self.subscriber,
                    self.limit,
                    channel,
                    seq,
                    self.dropped,
                )
        self._pending.append(delivery)

    def take(self) -> list[Delivery]:
        """Every pending delivery, oldest first; the outbox is empty after."""
        batch = list(self._pending)
        self._pending.clear()
        return batch
