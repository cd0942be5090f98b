"""The room: membership, numbering, history and de-duplication, with no Ray in it.

A room carries channels. For each channel it knows which subscribers (gateways)
are registered and how many local connections each one has, numbers every
message it accepts, and keeps a short history so that a subscriber that says
"I last saw seq N" can be given everything after N. The Ray actors in
:mod:`partyray.actors.host` wrap rooms; everything here is plain Python and
is tested without a cluster.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NewType

import orjson

from partyray.partitioning.address import RoomName
from partyray.partitioning.errors import SubscriptionRefused

from .checks import SubscriptionCheck, users_own_channels

__all__ = [
    "Message",
    "PublishOutcome",
    "Room",
    "RoomConfig",
    "RoomStatistics",
    "SubscribeResult",
    "SubscriberId",
    "encode_data_frame",
]

#: Identifies a subscriber (a gateway) across calls; stable for its life.
SubscriberId = NewType("SubscriberId", str)

Clock = Callable[[], float]


@dataclass(frozen=True)
class RoomConfig:
    """How a room bounds what it keeps. Every bound has a default.

    ``history_size`` and ``history_age`` bound each channel's history, by count
    and by seconds; a message leaves it when either bound passes.
    ``dedup_size`` and ``dedup_age`` bound the window of message ids
    remembered to drop retried publishes. ``idle_timeout`` is how long a room
    with no subscribers and no publishes lives before its host evicts it.
    ``allow_client_publish`` lets connections publish and signal; otherwise only
    servers (the HTTP publish endpoint and in-cluster publishers) may.
    ``check`` decides every subscription (see :mod:`partyray.actors.checks`).
    """

    history_size: int = 1000
    history_age: float = 300.0
    dedup_size: int = 10_000
    dedup_age: float = 600.0
    idle_timeout: float = 300.0
    allow_client_publish: bool = False
    check: SubscriptionCheck = field(default=users_own_channels)

    def __post_init__(self) -> None:
        for name in ("history_size", "dedup_size"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} is negative")
        for name in ("history_age", "dedup_age", "idle_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")


@dataclass(frozen=True)
class Message:
    """A numbered message of one channel, with its wire frame encoded once."""

    channel: str
    seq: int
    frame: str


@dataclass(frozen=True)
class SubscribeResult:
    """What a subscriber learns when its subscription is registered.

    ``seq`` is the channel's latest sequence number. ``recovered`` says whether
    ``missed`` holds every message after the ``since`` that was asked for (it is
    ``True`` when no ``since`` was given). ``epoch`` names the channel's
    numbering: the room's life, and the channel's life within it.
    """

    seq: int
    recovered: bool
    epoch: str
    missed: tuple[Message, ...] = ()


@dataclass(frozen=True)
class PublishOutcome:
    """The fate of one published message.

    ``duplicate`` is ``True`` when the message id was already seen, in which
    case ``seq`` is the number it got then and nothing is delivered again.
    ``subscribers`` are the subscribers to deliver ``message`` to.
    """

    seq: int
    duplicate: bool
    message: Message | None
    subscribers: tuple[SubscriberId, ...]


@dataclass(frozen=True)
class RoomStatistics:
    """A snapshot of one room's tables and counters."""

    name: str
    epoch: str
    channels: int
    subscribers: int
    connections: int
    history_messages: int
    published: int
    duplicates: int
    refused: int


def encode_data_frame(channel: str, data: Any, seq: int) -> str:
    """The ``data`` frame of the wire protocol, as text."""
    frame = {"type": "data", "channel": channel, "data": data, "seq": seq}
    return orjson.dumps(frame).decode()


class _Channel:
    """One channel's subscribers, numbering and history."""

    __slots__ = ("epoch", "history", "seq", "subscribers")

    def __init__(self, epoch: str) -> None:
        # Numbering restarts only with a new epoch, so (epoch, seq) names one
        # message for good, even after the channel was forgotten and reborn.
        self.epoch = epoch
        self.seq = 0
        # subscriber -> number of its local connections on this channel
        self.subscribers: dict[SubscriberId, int] = {}
        # (publish time, message), oldest first
        self.history: deque[tuple[float, Message]] = deque()


class Room:
    """A room: the subscribers, numbering and history of its channels.

    A room does no I/O. :meth:`publish` tells its caller which subscribers
    should get a message; delivering it is the host's job.
    """

    def __init__(
        self,
        name: RoomName,
        config: RoomConfig | None = None,
        *,
        clock: Clock = time.monotonic,
    ) -> None:
        self.name = name
        self.config = config or RoomConfig()
        self.epoch = uuid.uuid4().hex[:12]
        self._clock = clock
        self._channels: dict[str, _Channel] = {}
        self._seen_ids: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._last_activity = clock()
        self._published = 0
        self._duplicates = 0
        self._refused = 0
        self._births = 0

    # -- subscriptions ---------------------------------------------------

    def subscribe(
        self,
        channel: str,
        subscriber: SubscriberId,
        principal: str | None,
        since: int | None = None,
        epoch: str | None = None,
    ) -> SubscribeResult:
        """Register one connection of ``subscriber`` on ``channel``.

        Raises :class:`SubscriptionRefused` when the room's check says no;
        nothing is registered then. With ``since``, the result carries every
        message after it when the history still reaches back that far, and
        says ``recovered=False`` otherwise; an ``epoch`` other than this room's
        always gives ``recovered=False``, since its numbers meant other messages.
        """
        if not self.config.check(channel, self.name, principal):
            self._refused += 1
            raise SubscriptionRefused(f"subscription to {channel[:80]!r} refused")
        self._last_activity = self._clock()

        state = self._channel(channel)
        state.subscribers[subscriber] = state.subscribers.get(subscriber, 0) + 1

        if since is None:
            return SubscribeResult(seq=state.seq, recovered=True, epoch=state.epoch)
        if epoch is not None and epoch != state.epoch:
            return SubscribeResult(seq=state.seq, recovered=False, epoch=state.epoch)
        recovered, missed = self._after(state, since)
        return SubscribeResult(
            seq=state.seq,
            recovered=recovered,
            epoch=state.epoch,
            missed=missed if recovered else (),
        )

    def unsubscribe(
        self, channel: str, subscriber: SubscriberId, connections: int = 1
    ) -> None:
        """Take ``connections`` of ``subscriber``'s connections off ``channel``.

        The subscriber leaves the channel when its count reaches zero. Unknown
        channels and subscribers are ignored: an unsubscribe is idempotent.
        """
        state = self._channels.get(channel)
        if state is None or subscriber not in state.subscribers:
            return
        self._last_activity = self._clock()
        left = state.subscribers[subscriber] - connections
        if left > 0:
            state.subscribers[subscriber] = left
        else:
            del state.subscribers[subscriber]
            self._forget_if_empty(channel, state)

    def drop_subscriber(self, subscriber: SubscriberId) -> int:
        """Remove ``subscriber`` from every channel; return how many it was on."""
        dropped = 0
        for channel, state in list(self._channels.items()):
            if state.subscribers.pop(subscriber, None) is not None:
                dropped += 1
                self._forget_if_empty(channel, state)
        return dropped

    def subscribers(self, channel: str | None = None) -> set[SubscriberId]:
        """The subscribers of one channel, or of every channel of the room."""
        if channel is not None:
            state = self._channels.get(channel)
            return set(state.subscribers) if state else set()
        return {s for state in self._channels.values() for s in state.subscribers}

    # -- publishing ------------------------------------------------------

    def publish(
        self,
        channel: str,
        data: Any,
        message_id: str | None = None,
        *,
        from_client: bool = False,
    ) -> PublishOutcome:
        """Number a message, keep it in the history and say who gets it.

        A ``message_id`` seen within the de-duplication window gives the
        earlier outcome's ``seq`` and no delivery. ``from_client`` publishes
        are refused with :class:`SubscriptionRefused` unless the room allows
        client publish.
        """
        if from_client and not self.config.allow_client_publish:
            raise SubscriptionRefused("client publish is not allowed")
        now = self._clock()
        self._last_activity = now

        if message_id is not None:
            self._trim_seen(now)
            seen = self._seen_ids.get(message_id)
            if seen is not None:
                self._duplicates += 1
                return PublishOutcome(seen[1], True, None, ())

        state = self._channel(channel)
        # Encoded before it is numbered: data that is not JSON raises here and
        # leaves no hole in the channel's sequence.
        frame = encode_data_frame(channel, data, state.seq + 1)
        state.seq += 1
        message = Message(channel, state.seq, frame)
        if self.config.history_size:
            state.history.append((now, message))
            self._trim(state)
        if message_id is not None:
            self._seen_ids[message_id] = (now, state.seq)
        self._published += 1
        return PublishOutcome(state.seq, False, message, tuple(state.subscribers))

    def history(
        self, channel: str, since: int, epoch: str | None = None
    ) -> tuple[bool, tuple[Message, ...]]:
        """Every kept message of ``channel`` after ``since``, and whether that is all.

        The flag is ``False`` when the history no longer reaches back to
        ``since``, or when ``epoch`` is not the channel's current epoch.
        """
        state = self._channels.get(channel)
        if state is None or (epoch is not None and epoch != state.epoch):
            return False, ()
        return self._after(state, since)

    def epoch_of(self, channel: str) -> str | None:
        """The epoch of ``channel``'s numbering, or ``None`` for an unknown channel."""
        state = self._channels.get(channel)
        return state.epoch if state else None

    def latest(self, channel: str) -> int:
        """The latest sequence number of ``channel`` (0 before any message)."""
        state = self._channels.get(channel)
        return state.seq if state else 0

    # -- life ------------------------------------------------------------

    def is_idle(self) -> bool:
        """``True`` when the room has no subscribers and saw nothing for a while."""
        if any(state.subscribers for state in self._channels.values()):
            return False
        return self._clock() - self._last_activity >= self.config.idle_timeout

    def sweep(self) -> None:
        """Trim every history and the id window by age, and forget dead channels."""
        now = self._clock()
        self._trim_seen(now)
        for channel, state in list(self._channels.items()):
            self._trim(state)
            self._forget_if_empty(channel, state)

    def statistics(self) -> RoomStatistics:
        """A snapshot of the room's tables and counters."""
        channels = self._channels.values()
        return RoomStatistics(
            name=self.name,
            epoch=self.epoch,
            channels=len(self._channels),
            subscribers=len(self.subscribers()),
            connections=sum(sum(s.subscribers.values()) for s in channels),
            history_messages=sum(len(s.history) for s in channels),
            published=self._published,
            duplicates=self._duplicates,
            refused=self._refused,
        )

    # -- internals -------------------------------------------------------

    def _channel(self, channel: str) -> _Channel:
        state = self._channels.get(channel)
        if state is None:
            self._births += 1
            state = self._channels[channel] = _Channel(f"{self.epoch}.{self._births}")
        return state

    def _after(self, state: _Channel, since: int) -> tuple[bool, tuple[Message, ...]]:
        # The history covers `since` when it holds every number after it.
        if since < 0 or since > state.seq:
            return False, ()
        self._trim(state)
        missed = tuple(m for _, m in state.history if m.seq > since)
        first = missed[0].seq if missed else state.seq + 1
        return first == since + 1, missed

    def _trim(self, state: _Channel) -> None:
        horizon = self._clock() - self.config.history_age
        history = state.history
        while history and (
            len(history) > self.config.history_size or history[0][0] < horizon
        ):
            history.popleft()

    def _trim_seen(self, now: float) -> None:
        seen = self._seen_ids
        horizon = now - self.config.dedup_age
        while seen:
            oldest_time, _ = next(iter(seen.values()))
            if len(seen) <= self.config.dedup_size and oldest_time >= horizon:
                break
            seen.popitem(last=False)

    def _forget_if_empty(self, channel: str, state: _Channel) -> None:
        # A channel with no subscribers stays while its history can still
        # serve a subscriber that comes back; once forgotten, a later use
        # starts a new epoch.
        if not state.subscribers and not state.history:
            del self._channels[channel]
