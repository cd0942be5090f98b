"""The built-in strategies that read a room out of the channel itself.

Each one is a frozen value: equal when built with equal arguments, hashable
and picklable, so the same object can travel to a Ray actor, a gateway and a
client. A room name a strategy would build is checked with
:func:`~partyray.partitioning.room_name`, and a bad one raises
:class:`~partyray.partitioning.InvalidRoomName` instead of falling back to
another room.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ._query import first_values, query_of
from ._remult import ANONYMOUS_USER, live_query
from .address import (
    MAX_ROOM_NAME_LENGTH,
    ROOM_NAME_CHARACTERS,
    RoomAddress,
    RoomName,
    room_name,
)
from .base import BaseStrategy
from .errors import InvalidRoomName

__all__ = [
    "MAX_ANONYMOUS_ROOMS",
    "ByEntity",
    "ByQueryParameter",
    "ByUser",
    "RemultPartykit",
]

#: The most rooms :class:`ByUser` spreads anonymous live queries over.
MAX_ANONYMOUS_ROOMS = 65536

_GLOBAL = RoomAddress(RoomName("global"))

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_PREFIX = re.compile(r"[A-Za-z0-9_\-.:@+=~]*")

# Remult-partykit's query keys, in the order it reads them, with their rooms.
_REMULT_KEYS = (("roomId", "room:"), ("readerId", "reader:"), ("userId", "user:"))


def _check_prefix(prefix: str) -> None:
    # A prefix is checked once, so a bad one fails when the strategy is built
    # and not on the first channel that reaches it.
    if len(prefix) >= MAX_ROOM_NAME_LENGTH:
        raise InvalidRoomName(
            f"room prefix exceeds {MAX_ROOM_NAME_LENGTH - 1} characters: "
            f"{prefix[:40]!r}..."
        )
    if not _PREFIX.fullmatch(prefix):
        raise InvalidRoomName(
            f"room prefix {prefix!r} has a character outside "
            f"letters, digits and {ROOM_NAME_CHARACTERS!r}"
        )


@dataclass(frozen=True, init=False)
class ByQueryParameter(BaseStrategy):
    """The room named by a query parameter of the channel.

    ``ByQueryParameter()`` sends ``chat?roomId=r1`` to ``r1``,
    ``chat?userId=u1`` to ``u1`` and ``chat`` to ``global``.

    The query string is the text after the first ``?``, read as
    ``URLSearchParams`` reads it: ``+`` is a space, escapes are decoded, only a
    name's first value counts and an empty value counts as absent. The first
    of ``names`` with a value wins; the room is that name's prefix (from
    ``prefixes``, empty by default) followed by the value. With none of them
    present the channel goes to ``default``, or is not matched when
    ``default`` is ``None``.

    ``ByQueryParameter(prefixes={"roomId": "room:"})`` sends
    ``chat?roomId=r1`` to ``room:r1``.
    """

    names: tuple[str, ...]
    default: str | None
    prefixes: tuple[tuple[str, str], ...] | None

    def __init__(
        self,
        names: str | Iterable[str] = ("roomId", "userId"),
        default: str | None = "global",
        prefixes: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    ) -> None:
        # A lone string is one name, not a sequence of one-letter names.
        names = (names,) if isinstance(names, str) else tuple(names)
        if not names:
            raise ValueError("query strategy needs at least one name")
        if not all(names):
            raise ValueError("query parameter name is empty")
        if default is not None:
            room_name(default)

        # Prefixes are kept as pairs in the order of names, so that equal
        # strategies compare and hash equal whatever order they were given in.
        pairs: tuple[tuple[str, str], ...] | None = None
        if prefixes is not None:
            given = dict(prefixes)
            for name, prefix in given.items():
                if name not in names:
                    raise ValueError(f"prefix for unknown name {name!r}")
                _check_prefix(prefix)
            pairs = tuple((name, given[name]) for name in names if name in given)
            pairs = pairs or None

        object.__setattr__(self, "names", names)
        object.__setattr__(self, "default", default)
        object.__setattr__(self, "prefixes", pairs)

    def match(self, channel: str) -> RoomAddress | None:
        query = query_of(channel)
        values = first_values(query) if query is not None else {}
        prefixes = dict(self.prefixes or ())

        for name in self.names:
            value = values.get(name)
            if value:
                return RoomAddress(room_name(prefixes.get(name, "") + value))

        if self.default is None:
            return None
        # The default was checked when the strategy was built.
        return RoomAddress(RoomName(self.default))


@dataclass(frozen=True)
class ByEntity(BaseStrategy):
    """One room per entity, named by the last path segment of the channel.

    ``ByEntity()`` sends ``/api/Tasks?x=1``, ``/api/Tasks``, ``Tasks`` and
    ``Tasks?x=1`` to ``entity:Tasks``.

    The entity is the last ``/``-separated segment before the first ``?``. A
    channel whose entity is not an identifier (``[A-Za-z_][A-Za-z0-9_]*``), and
    any Remult live-query channel, is not matched.
    """

    prefix: str = "entity:"

    def __post_init__(self) -> None:
        _check_prefix(self.prefix)

    def match(self, channel: str) -> RoomAddress | None:
        if live_query(channel) is not None:
            return None

        path = channel.partition("?")[0]
        entity = path.rpartition("/")[2]
        if not _IDENTIFIER.fullmatch(entity):
            return None
        return RoomAddress(room_name(self.prefix + entity))


@dataclass(frozen=True)
class ByUser(BaseStrategy):
    """One room per signed-in user; anonymous live queries spread over a few.

    ``ByUser()`` sends ``users:u1:queries:q1`` and ``chat?userId=u1`` to
    ``user:u1``, and ``users:undefined:queries:q1`` to one of ``anonymous:0``
    to ``anonymous:15``.

    Remult writes ``undefined`` as the user id of a signed-out user; those
    live queries, and those with an empty user id, go to ``anonymous:<k>``
    where ``k`` is a BLAKE2b hash of the query id modulo ``anonymous_rooms``.
    The hash is part of the contract: the same query id lands in the same room
    on every process and every release. A channel that is neither a live query
    nor carries ``userId`` in its query string is not matched.
    """

    anonymous_rooms: int = 16

    def __post_init__(self) -> None:
        rooms = self.anonymous_rooms
        if isinstance(rooms, bool) or not isinstance(rooms, int):
            raise TypeError("anonymous_rooms must be an int")
        if not 1 <= rooms <= MAX_ANONYMOUS_ROOMS:
            raise ValueError(
                f"anonymous_rooms must be between 1 and {MAX_ANONYMOUS_ROOMS}"
            )

    def match(self, channel: str) -> RoomAddress | None:
        live = live_query(channel)
        if live is not None:
            user, query_id = live
            if user and user != ANONYMOUS_USER:
                return RoomAddress(room_name("user:" + user))
            return RoomAddress(RoomName(f"anonymous:{self._bucket(query_id)}"))

        query = query_of(channel)
        if query is None:
            return None
        named = first_values(query).get("userId")
        if not named:
            return None
        return RoomAddress(room_name("user:" + named))

    def _bucket(self, query_id: str) -> int:
        # "surrogatepass" lets a lone surrogate from a JSON frame hash too.
        data = query_id.encode("utf-8", "surrogatepass")
        digest = hashlib.blake2b(data, digest_size=8, person=b"partyray:anon").digest()
        return int.from_bytes(digest, "big") % self.anonymous_rooms


@dataclass(frozen=True)
class RemultPartykit(BaseStrategy):
    """The rooms of the npm package remult-partykit, so its client lines up.

    ``RemultPartykit()`` sends ``users:u1:queries:q1`` to ``user:u1``,
    ``users:undefined:queries:q1`` to ``user:undefined``, ``chat?roomId=r1``
    to ``room:r1``, ``chat?readerId=d1`` to ``reader:d1``, ``chat?userId=u1``
    to ``user:u1`` and ``chat`` to ``global``.

    A live-query channel with a non-empty user id goes to ``user:<id>``, so
    every signed-out user shares ``user:undefined``; use :class:`ByUser` to
    spread them. Other channels are read by their query string: the first of
    ``roomId``, ``readerId`` and ``userId`` with a value names the room, and
    without one the channel goes to ``global``. Every channel is matched, but
    a value outside the room-name characters raises
    :class:`~partyray.partitioning.InvalidRoomName`.
    """

    def match(self, channel: str) -> RoomAddress:
        live = live_query(channel)
        if live is not None and live[0]:
            return RoomAddress(room_name("user:" + live[0]))

        query = query_of(channel)
        if query is None:
            return _GLOBAL
        values = first_values(query)
        for key, prefix in _REMULT_KEYS:
            value = values.get(key)
            if value:
                return RoomAddress(room_name(prefix + value))
        return _GLOBAL
