"""The six scenarios: which connections subscribe to what, and what is published.

==========  ================================================================
fanout      one room, ``subscribers`` connections, one publisher; modes
            ``saturated`` (window-limited) and ``rate`` (fixed messages/s)
rooms       ``rooms`` rooms of ``subscribers`` each; publishes round-robin
users       ``subscribers`` per-user rooms with one subscriber each;
            publishes spread uniformly (a shuffled round-robin)
publish     ``rooms`` rooms of ``subscribers`` each, fed over HTTP
            ``POST /publish`` in batches where the target has it
connect     ``subscribers`` connections each subscribing, then idle
reconnect   ``subscribers`` over ``rooms`` drop and return with ``since``
            while a fixed rate of publishing goes on
==========  ================================================================
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

from benchmarks.load.plan import PublisherPlan
from benchmarks.load.runner import LoadSpec
from benchmarks.naming import room_channel, user_channels
from benchmarks.targets.base import Endpoint
from benchmarks.tokens import hs256_token

__all__ = ["SCENARIOS", "Case", "Options", "build", "cases"]

SCENARIOS = ("fanout", "rooms", "users", "publish", "connect", "reconnect")


@dataclass(frozen=True)
class Options:
    """Sizes and knobs from the command line; ``None`` takes the scenario default."""

    subscribers: tuple[int, ...] | None = None
    rooms: int | None = None
    messages: int | None = None
    rate: float | None = None
    duration: float | None = None
    modes: tuple[str, ...] | None = None
    window: int = 20
    batch: int = 10
    http_concurrency: int = 4
    load_procs: int = 2
    gap: float | None = None
    tiny: bool = False


@dataclass(frozen=True)
class _Defaults:
    subscribers: int
    rooms: int
    messages: int
    rate: float
    duration: float
    modes: tuple[str, ...]


_NORMAL = {
    "fanout": _Defaults(1000, 1, 300, 10.0, 10.0, ("saturated", "rate")),
    "rooms": _Defaults(50, 100, 2000, 200.0, 10.0, ("saturated",)),
    "users": _Defaults(10_000, 10_000, 20_000, 1000.0, 10.0, ("saturated",)),
    "publish": _Defaults(5, 100, 5000, 1000.0, 10.0, ("saturated",)),
    "connect": _Defaults(5000, 100, 0, 0.0, 0.0, ("idle",)),
    "reconnect": _Defaults(500, 10, 0, 100.0, 6.0, ("rate",)),
}

_TINY = {
    "fanout": _Defaults(20, 1, 50, 20.0, 1.5, ("saturated", "rate")),
    "rooms": _Defaults(4, 5, 100, 100.0, 1.5, ("saturated",)),
    "users": _Defaults(50, 50, 200, 200.0, 1.5, ("saturated",)),
    "publish": _Defaults(2, 5, 200, 200.0, 1.5, ("saturated",)),
    "connect": _Defaults(50, 5, 0, 0.0, 0.0, ("idle",)),
    "reconnect": _Defaults(20, 2, 0, 50.0, 2.0, ("rate",)),
}


@dataclass(frozen=True)
class Case:
    """One scenario at one size and mode: a row per target."""

    scenario: str
    mode: str
    subscribers: int
    rooms: int
    messages: int
    rate: float
    duration: float

    @property
    def connections(self) -> int:
        """Subscriber connections this case opens."""
        if self.scenario in ("fanout", "users", "connect", "reconnect"):
            return self.subscribers
        return self.subscribers * self.rooms

    @property
    def label(self) -> str:
        """A short description such as ``rooms 100x50 saturated``."""
        if self.scenario in ("rooms", "publish"):
            size = f"{self.rooms}x{self.subscribers}"
        elif self.scenario in ("connect", "reconnect"):
            size = f"{self.subscribers} over {self.rooms} rooms"
        else:
            size = str(self.subscribers)
        if self.mode == "rate":
            return f"{self.scenario} {size} @{self.rate:g}/s"
        return f"{self.scenario} {size} {self.mode}"


def cases(scenario: str, options: Options) -> list[Case]:
    """The cases of ``scenario``: one per size and mode."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}")
    base = (_TINY if options.tiny else _NORMAL)[scenario]
    sizes = options.subscribers or (base.subscribers,)
    modes = options.modes or base.modes
    out: list[Case] = []
    for size in sizes:
        for mode in modes:
            rooms = options.rooms or base.rooms
            if scenario == "users":
                rooms = size
            elif scenario == "fanout":
                rooms = 1
            case = Case(
                scenario=scenario,
                mode=mode,
                subscribers=size,
                rooms=rooms,
                messages=options.messages or base.messages,
                rate=options.rate or base.rate,
                duration=options.duration or base.duration,
            )
            if mode == "rate":
                case = replace(case, messages=math.ceil(case.rate * case.duration))
            out.append(case)
    return out


def build(case: Case, options: Options, endpoint: Endpoint) -> LoadSpec:
    """The load of ``case`` against ``endpoint``."""
    # Who subscribes to what.
    if case.scenario == "users":
        channels = tuple(user_channels(case.subscribers))
        connections = tuple((k,) for k in range(case.subscribers))
    elif case.scenario in ("connect", "reconnect", "fanout"):
        channels = tuple(room_channel(k) for k in range(case.rooms))
        connections = tuple((k % case.rooms,) for k in range(case.subscribers))
    else:
        channels = tuple(room_channel(k) for k in range(case.rooms))
        connections = tuple(
            (k % case.rooms,) for k in range(case.subscribers * case.rooms)
        )
    fanout = [0] * len(channels)
    for subscription in connections:
        for index in subscription:
            fanout[index] += 1

    # What is published, how fast and over what.
    order = list(range(len(channels)))
    if case.scenario == "users":
        random.Random(11).shuffle(order)
    publisher = None
    if case.scenario != "connect":
        saturated = case.mode == "saturated"
        via = "http" if case.scenario == "publish" and endpoint.http_publish else "ws"
        publisher = PublisherPlan(
            ws_url=endpoint.ws_url,
            http_url=endpoint.http_url,
            token=endpoint.token,
            channels=channels,
            fanout=tuple(fanout),
            order=tuple(order),
            messages=case.messages,
            rate=0.0 if saturated else case.rate,
            duration_s=case.duration if not saturated else 120.0,
            window=options.window,
            via=via,
            batch=options.batch,
            http_concurrency=options.http_concurrency,
        )
    expected = sum(
        case.messages * fanout[c] // max(len(order), 1) for c in range(len(channels))
    )
    tokens = None
    if case.scenario == "users" and endpoint.auth_secret:
        secret = endpoint.auth_secret
        tokens = tuple(hs256_token(secret, f"u{k}") for k in range(case.subscribers))
    reconnect = case.scenario == "reconnect"
    gap = options.gap if options.gap is not None else (0.3 if options.tiny else 0.5)
    return LoadSpec(
        channels=channels,
        connections=connections,
        publisher=publisher,
        expected_deliveries=expected,
        procs=options.load_procs,
        settle_s=(0.5 if options.tiny else 2.0) if case.scenario == "connect" else 0.0,
        drain_s=2.0 if options.tiny else 3.0,
        drop_at_s=case.duration / 3 if reconnect else None,
        drop_gap_s=gap,
        tokens=tokens,
    )
