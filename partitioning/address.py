"""Room names, placements and room addresses: what a partition strategy returns."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NewType, Protocol, runtime_checkable

from .errors import InvalidRoomName, UnresolvableChannel

__all__ = [
    "ANYWHERE",
    "MAX_ROOM_NAME_LENGTH",
    "ROOM_NAME_CHARACTERS",
    "PartitionStrategy",
    "Placement",
    "RoomAddress",
    "RoomName",
    "resolve_or_raise",
    "room_name",
]

#: A validated room name. Build one with :func:`room_name`.
RoomName = NewType("RoomName", str)

#: The longest room name accepted, in characters.
MAX_ROOM_NAME_LENGTH = 200

#: The characters a room name may hold, besides ASCII letters and digits.
ROOM_NAME_CHARACTERS = "_-.:@+=~"

_ROOM_NAME = re.compile(r"[A-Za-z0-9_\-.:@+=~]+")


def room_name(name: str) -> RoomName:
    """Return ``name`` as a :data:`RoomName`, or raise :class:`InvalidRoomName`.

    A room name is 1 to 200 characters of ASCII letters, digits and
    ``_ - . : @ + = ~``. The set keeps names safe in actor names, URLs and logs.
    """
    if not name:
        raise InvalidRoomName("room name is empty")
    if len(name) > MAX_ROOM_NAME_LENGTH:
        raise InvalidRoomName(
            f"room name exceeds {MAX_ROOM_NAME_LENGTH} characters: {name[:40]!r}..."
        )
    if not _ROOM_NAME.fullmatch(name):
        raise InvalidRoomName(
            f"room name {name!r} has a character outside "
            f"letters, digits and {ROOM_NAME_CHARACTERS!r}"
        )
    return RoomName(name)


@dataclass(frozen=True)
class Placement:
    """Where a room runs and how it is hosted.

    ``region``
        The region the room should run in, matched against the Ray node label
        ``region`` (or the custom resource ``region:<name>``). ``None``: anywhere.
    ``strict``
        With a region: ``True`` means the room must run there and fails to start
        when no node carries the region (a jurisdiction); ``False`` makes the
        region a best-effort hint (a location hint).
    ``dedicated``
        ``True`` gives the room a named Ray actor of its own; ``False`` hosts it
        in the shared pool of room shards.
    """

    region: str | None = None
    strict: bool = False
    dedicated: bool = False

    def __post_init__(self) -> None:
        if self.region is not None and not self.region:
            raise ValueError("placement region is empty")
        if self.strict and self.region is None:
            raise ValueError("a strict placement needs a region")


#: Placement in the shared shard pool, anywhere in the cluster.
ANYWHERE = Placement()


@dataclass(frozen=True)
class RoomAddress:
    """A room's name and its placement: the result of resolving a channel."""

    name: RoomName
    placement: Placement = field(default=ANYWHERE)


@runtime_checkable
class PartitionStrategy(Protocol):
    """Maps a channel to the address of the room that carries it.

    ``match`` returns ``None`` when the strategy has nothing to say about the
    channel, so strategies can be chained; ``resolve`` never returns ``None``
    and raises :class:`UnresolvableChannel` instead. Both are pure functions of
    the channel: no I/O, no clock, no randomness.
    """

    def match(self, channel: str) -> RoomAddress | None: ...

    def resolve(self, channel: str) -> RoomAddress: ...


def resolve_or_raise(strategy: PartitionStrategy, channel: str) -> RoomAddress:
    """``strategy.match(channel)``, or :class:`UnresolvableChannel` for ``None``."""
    address = strategy.match(channel)
    if address is None:
        raise UnresolvableChannel(f"no room for channel {channel[:80]!r}")
    return address
