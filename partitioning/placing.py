"""Strategies that keep another strategy's rooms and change where they run.

Each wraps an inner strategy: a channel the inner one does not match stays
unmatched, and the room name is never changed, only its
:class:`~partyray.partitioning.Placement`.

The functions given to :class:`WithPlacement` and :class:`WithRegion` must be
pure, like the strategies themselves, and defined at module level so that
the wrapper pickles on its way to a Ray actor; a lambda does not pickle.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection
from dataclasses import dataclass

from .address import PartitionStrategy, Placement, RoomAddress, room_name
from .base import BaseStrategy

__all__ = ["Dedicated", "WithPlacement", "WithRegion"]


@dataclass(frozen=True)
class WithPlacement(BaseStrategy):
    """The inner strategy's rooms, placed by ``placement_of(channel, room)``.

    ``WithPlacement(Fixed("global"), place)`` with a ``place`` that returns
    ``Placement(region="eu", strict=True)`` sends ``chat`` to ``global``,
    which must run in ``eu``. The returned placement replaces the inner one
    whole.
    """

    inner: PartitionStrategy
    placement_of: Callable[[str, str], Placement]

    def match(self, channel: str) -> RoomAddress | None:
        address = self.inner.match(channel)
        if address is None:
            return None
        return RoomAddress(address.name, self.placement_of(channel, address.name))


@dataclass(frozen=True)
class WithRegion(BaseStrategy):
    """The inner strategy's rooms, in the region ``region_of(channel, room)``.

    ``WithRegion(ByEntity(), lambda channel, room: "eu")`` sends ``Tasks`` to
    ``entity:Tasks`` with the region hint ``eu`` (a lambda for brevity: use a
    module-level function to pickle). With ``strict`` the region is a
    requirement rather than a hint. When ``region_of`` gives ``None`` the
    inner placement is kept as it is; otherwise only its region and strictness
    change and ``dedicated`` is kept.
    """

    inner: PartitionStrategy
    region_of: Callable[[str, str], str | None]
    strict: bool = False

    def match(self, channel: str) -> RoomAddress | None:
        address = self.inner.match(channel)
        if address is None:
            return None

        region = self.region_of(channel, address.name)
        if region is None:
            return address
        placement = dataclasses.replace(
            address.placement, region=region, strict=self.strict
        )
        return RoomAddress(address.name, placement)


@dataclass(frozen=True, init=False, repr=False)
class Dedicated(BaseStrategy):
    """The inner strategy's rooms, some of them in a Ray actor of their own.

    ``Dedicated(ByEntity(), {"entity:Orders"})`` sends ``/api/Orders`` to
    ``entity:Orders`` with ``dedicated=True`` and ``/api/Tasks`` to
    ``entity:Tasks`` in the shared pool. ``rooms`` is a collection of room
    names (checked when the strategy is built; a lone string is one name) or
    a predicate on the room name. The region and strictness of the inner
    placement are kept.
    """

    inner: PartitionStrategy
    rooms: frozenset[str] | Callable[[str], bool]

    def __init__(
        self,
        inner: PartitionStrategy,
        rooms: Collection[str] | Callable[[str], bool],
    ) -> None:
        chosen: frozenset[str] | Callable[[str], bool]
        if isinstance(rooms, str):
            chosen = frozenset((room_name(rooms),))
        elif callable(rooms):
            chosen = rooms
        else:
            chosen = frozenset(room_name(name) for name in rooms)
        object.__setattr__(self, "inner", inner)
        object.__setattr__(self, "rooms", chosen)

    def __repr__(self) -> str:
        # A set's order depends on its history; name the rooms in sorted order
        # so that equal strategies always print alike (a pickled copy too).
        if isinstance(self.rooms, frozenset):
            rooms = "frozenset({" + ", ".join(map(repr, sorted(self.rooms))) + "})"
        else:
            rooms = repr(self.rooms)
        return f"Dedicated(inner={self.inner!r}, rooms={rooms})"

    def match(self, channel: str) -> RoomAddress | None:
        address = self.inner.match(channel)
        if address is None or not self._dedicates(address.name):
            return address
        placement = dataclasses.replace(address.placement, dedicated=True)
        return RoomAddress(address.name, placement)

    def _dedicates(self, name: str) -> bool:
        if isinstance(self.rooms, frozenset):
            return name in self.rooms
        return self.rooms(name)
