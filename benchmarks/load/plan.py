"""The picklable plans handed to load processes, and what they report back."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "PublisherPlan",
    "PublisherReport",
    "ReconnectRecord",
    "SubscriberPlan",
    "SubscriberReport",
]


@dataclass(frozen=True)
class SubscriberPlan:
    """Connections for one subscriber process.

    ``connections`` holds, per connection, the indices into ``channels`` it
    subscribes to. ``slot`` is this process's cell in the shared progress
    array. ``drop_gap`` is set for the reconnect scenario: on the drop signal
    every connection closes, waits that long and subscribes again with
    ``since``. ``deadline_s`` bounds the process's whole life. ``tokens``,
    when set, holds one token per connection, sent as ``?token=``.
    """

    slot: int
    url: str
    channels: tuple[str, ...]
    connections: tuple[tuple[int, ...], ...]
    connect_concurrency: int = 100
    open_timeout: float = 20.0
    deadline_s: float = 300.0
    drop_gap: float | None = None
    sample_cap: int = 400_000
    tokens: tuple[str, ...] | None = None


@dataclass(frozen=True)
class PublisherPlan:
    """What the publisher process sends, how fast, and over what.

    ``order`` lists channel indices; message ``k`` goes to
    ``order[k % len(order)]``. ``fanout[c]`` is the number of subscriptions on
    channel ``c``, used to count the deliveries a message should produce.
    ``rate`` is messages per second, or 0 for saturated: then at most
    ``window`` messages' worth of deliveries are outstanding. ``via`` is
    ``"ws"`` (client publish frames) or ``"http"`` (``POST /publish`` with
    ``batch`` messages per request, ``http_concurrency`` requests at once).
    """

    ws_url: str
    http_url: str
    token: str
    channels: tuple[str, ...]
    fanout: tuple[int, ...]
    order: tuple[int, ...]
    messages: int
    rate: float
    duration_s: float
    window: int = 50
    via: str = "ws"
    batch: int = 10
    http_concurrency: int = 4
    deadline_s: float = 300.0


@dataclass(frozen=True)
class ReconnectRecord:
    """One connection's drop and return, in wall-clock nanoseconds.

    ``missed`` is how many messages the subscribe acknowledgement said were
    published while away (its ``seq`` minus ``since``); ``replayed`` how many
    of those arrived; ``caught_up_ns`` when the last of them arrived, or
    ``None`` when the target could not recover them.
    """

    dropped_ns: int
    acked_ns: int
    recovered_flag: bool
    missed: int
    replayed: int
    caught_up_ns: int | None


@dataclass(frozen=True)
class SubscriberReport:
    """What one subscriber process measured."""

    slot: int
    connections_ok: int
    connections_failed: int
    setup_s: tuple[float, ...]
    deliveries: int
    duplicated: int
    out_of_order: int
    unique_per_channel: dict[int, int]
    latency_ns: bytes
    latency_stride: int
    first_ns: int
    last_ns: int
    error_frames: int
    cpu_s: float
    peak_rss: int
    errors: tuple[str, ...] = field(default=())
    reconnects: tuple[ReconnectRecord, ...] = field(default=())


@dataclass(frozen=True)
class PublisherReport:
    """What the publisher sent; times are wall-clock nanoseconds."""

    sent_per_channel: dict[int, int]
    first_ns: int
    last_ns: int
    requests: int
    error_frames: int
    stalls: int
    cpu_s: float
    peak_rss: int
    errors: tuple[str, ...] = field(default=())
