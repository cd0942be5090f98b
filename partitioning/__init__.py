"""Partition strategies: which room carries a channel, and where that room runs.

The vocabulary, used with these meanings only:

channel
    The string a subscriber subscribes to and a publisher publishes on, such
    as ``chat?roomId=r1`` or ``users:u1:queries:q1``.
room
    The unit of state and fan-out that carries a set of channels: one
    :class:`RoomName`, hosted by a Ray actor.
partition
    The mapping of every channel to exactly one room.
placement
    Where a room runs and how it is hosted: a :class:`Placement` (region,
    strictness, a dedicated actor or the shared pool).
strategy
    A pure, immutable, picklable object that computes the partition: its
    ``match`` gives a channel's :class:`RoomAddress` or ``None``, its
    ``resolve`` the address or :class:`UnresolvableChannel`. Publishers,
    gateways and clients share the same strategy objects.

Built-in strategies read the room out of the channel (:class:`ByQueryParameter`,
:class:`ByEntity`, :class:`ByUser`, :class:`RemultPartykit`), name one room
(:class:`Fixed`), chain others (:class:`FirstMatch`, or ``a | b``) or change
placements (:class:`WithPlacement`, :class:`WithRegion`, :class:`Dedicated`).
:func:`parse_spec` builds them from text such as ``user|entity|fixed:global``.
"""

from .address import (
    ANYWHERE,
    MAX_ROOM_NAME_LENGTH,
    ROOM_NAME_CHARACTERS,
    PartitionStrategy,
    Placement,
    RoomAddress,
    RoomName,
    resolve_or_raise,
    room_name,
)
from .base import BaseStrategy, FirstMatch, Fixed
from .errors import InvalidRoomName, InvalidSpec, PartitionError, UnresolvableChannel
from .placing import Dedicated, WithPlacement, WithRegion
from .spec import describe, parse_spec
from .strategies import (
    MAX_ANONYMOUS_ROOMS,
    ByEntity,
    ByQueryParameter,
    ByUser,
    RemultPartykit,
)

__all__ = [
    "ANYWHERE",
    "MAX_ANONYMOUS_ROOMS",
    "MAX_ROOM_NAME_LENGTH",
    "ROOM_NAME_CHARACTERS",
    "BaseStrategy",
    "ByEntity",
    "ByQueryParameter",
    "ByUser",
    "Dedicated",
    "FirstMatch",
    "Fixed",
    "InvalidRoomName",
    "InvalidSpec",
    "PartitionError",
    "PartitionStrategy",
    "Placement",
    "RemultPartykit",
    "RoomAddress",
    "RoomName",
    "UnresolvableChannel",
    "WithPlacement",
    "WithRegion",
    "describe",
    "parse_spec",
    "resolve_or_raise",
    "room_name",
]
