"""The base of the built-in strategies, and the two that compose others.

:class:`BaseStrategy` gives a strategy ``resolve`` from its ``match`` and lets
strategies be chained with ``|``. :class:`Fixed` sends every channel to one
room; :class:`FirstMatch` asks a list of strategies in turn.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from .address import (
    ANYWHERE,
    PartitionStrategy,
    Placement,
    RoomAddress,
    RoomName,
    resolve_or_raise,
    room_name,
)

__all__ = ["BaseStrategy", "FirstMatch", "Fixed"]


class BaseStrategy(ABC):
    """A partition strategy that only has to say how it matches.

    Subclasses implement :meth:`match`; :meth:`resolve` raises
    :class:`~partyray.partitioning.UnresolvableChannel` where ``match`` gives
    ``None``. ``a | b`` is ``FirstMatch(a, b)``.
    """

    @abstractmethod
    def match(self, channel: str) -> RoomAddress | None:
        """The address of the room that carries ``channel``, or ``None``."""

    def resolve(self, channel: str) -> RoomAddress:
        """The address of the room that carries ``channel``; never ``None``."""
        return resolve_or_raise(self, channel)

    def __or__(self, other: PartitionStrategy) -> FirstMatch:
        return FirstMatch(self, other)


@dataclass(frozen=True)
class Fixed(BaseStrategy):
    """Every channel goes to one room.

    ``Fixed("global")`` sends ``chat?roomId=r1`` to ``global``. The name is
    checked with :func:`~partyray.partitioning.room_name` when the strategy is
    built, so a bad name fails at configuration time.
    """

    name: str
    placement: Placement = field(default=ANYWHERE)

    def __post_init__(self) -> None:
        room_name(self.name)

    def match(self, channel: str) -> RoomAddress:
        # The name was checked when the strategy was built.
        return RoomAddress(RoomName(self.name), self.placement)


@dataclass(frozen=True, init=False, repr=False)
class FirstMatch(BaseStrategy):
    """The first of several strategies that matches the channel.

    ``FirstMatch(ByUser(), Fixed("global"))`` sends ``users:u1:queries:q1`` to
    ``user:u1`` and ``chat`` to ``global``. A nested ``FirstMatch`` is
    flattened into its parent; an error raised by one strategy stops the
    search rather than falling through to the next.
    """

    strategies: tuple[PartitionStrategy, ...]

    def __init__(self, *strategies: PartitionStrategy) -> None:
        if not strategies:
            raise ValueError("firstmatch needs at least one strategy")

        # Flattening keeps a chain built with | as flat as one built at once.
        flat: list[PartitionStrategy] = []
        for strategy in strategies:
            if isinstance(strategy, FirstMatch):
                flat.extend(strategy.strategies)
            else:
                flat.append(strategy)
        object.__setattr__(self, "strategies", tuple(flat))

    def match(self, channel: str) -> RoomAddress | None:
        for strategy in self.strategies:
            address = strategy.match(channel)
            if address is not None:
                return address
        return None

    def __repr__(self) -> str:
        inner = ", ".join(repr(strategy) for strategy in self.strategies)
        return f"FirstMatch({inner})"
