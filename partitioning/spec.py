"""Partition strategies written as text, for the command line and config files.

The grammar::

    spec    := term ( "|" term )*
    term    := "remult"
             | "user" [ ":" COUNT ]
             | "entity" [ ":" PREFIX ]
             | "query:" NAME ( "," NAME )* [ "=" [ DEFAULT ] ]
             | "fixed:" ROOM

A chain of several terms is a :class:`~partyray.partitioning.FirstMatch`;
spaces around a term are ignored. The terms:

``remult``
    :class:`~partyray.partitioning.RemultPartykit`.
``user``, ``user:COUNT``
    :class:`~partyray.partitioning.ByUser`, with ``COUNT`` anonymous rooms
    (16 by default, at most 65536).
``entity``, ``entity:PREFIX``
    :class:`~partyray.partitioning.ByEntity`, with rooms named ``PREFIX`` and
    the entity (``entity:`` by default; ``entity:`` alone means no prefix).
``query:NAMES``, ``query:NAMES=DEFAULT``, ``query:NAMES=``
    :class:`~partyray.partitioning.ByQueryParameter` reading the
    comma-separated ``NAMES``; channels without them go to ``global``, to
    ``DEFAULT``, or are left unmatched when nothing follows ``=``.
``fixed:ROOM``
    :class:`~partyray.partitioning.Fixed`.

:func:`describe` writes a strategy back as text, so that
``parse_spec(describe(strategy)) == strategy``. Strategies the grammar cannot
express (placements, query prefixes, strategies of your own) have no text.
"""

from __future__ import annotations

from .address import ANYWHERE, PartitionStrategy
from .base import FirstMatch, Fixed
from .errors import InvalidRoomName, InvalidSpec
from .strategies import (
    MAX_ANONYMOUS_ROOMS,
    ByEntity,
    ByQueryParameter,
    ByUser,
    RemultPartykit,
)

__all__ = ["describe", "parse_spec"]

_DEFAULT_ANONYMOUS_ROOMS = ByUser().anonymous_rooms
_DEFAULT_ENTITY_PREFIX = ByEntity().prefix
_DEFAULT_QUERY_ROOM = "global"

# Characters that would break a query term apart if a name held them.
_QUERY_SEPARATORS = frozenset(",=|")


def parse_spec(text: str) -> PartitionStrategy:
    """The strategy that ``text`` describes; see the module for the grammar.

    Raises :class:`~partyray.partitioning.InvalidSpec` naming the first
    unknown term or bad argument.
    """
    if not text.strip():
        raise InvalidSpec("partition spec is empty")

    strategies = [_parse_term(term.strip()) for term in text.split("|")]
    if len(strategies) == 1:
        return strategies[0]
    return FirstMatch(*strategies)


def describe(strategy: PartitionStrategy) -> str:
    """``strategy`` as spec text, or :class:`InvalidSpec` if it has none."""
    if isinstance(strategy, FirstMatch):
        return "|".join(describe(inner) for inner in strategy.strategies)
    if isinstance(strategy, RemultPartykit):
        return "remult"
    if isinstance(strategy, ByUser):
        if strategy.anonymous_rooms == _DEFAULT_ANONYMOUS_ROOMS:
            return "user"
        return f"user:{strategy.anonymous_rooms}"
    if isinstance(strategy, ByEntity):
        if strategy.prefix == _DEFAULT_ENTITY_PREFIX:
            return "entity"
        return f"entity:{strategy.prefix}"
    if isinstance(strategy, ByQueryParameter):
        return _describe_query(strategy)
    if isinstance(strategy, Fixed):
        if strategy.placement != ANYWHERE:
            raise InvalidSpec("a fixed room with a placement has no spec text")
        return f"fixed:{strategy.name}"
    raise InvalidSpec(f"{type(strategy).__name__} has no spec text")


def _parse_term(term: str) -> PartitionStrategy:
    if not term:
        raise InvalidSpec("empty term in partition spec")

    kind, colon, argument = term.partition(":")
    has_argument = bool(colon)
    if kind == "remult":
        if has_argument:
            raise InvalidSpec("remult takes no argument")
        return RemultPartykit()
    if kind == "user":
        return _parse_user(argument) if has_argument else ByUser()
    if kind == "entity":
        return _parse_entity(argument) if has_argument else ByEntity()
    if kind == "query":
        return _parse_query(argument)
    if kind == "fixed":
        return _parse_fixed(argument)
    raise InvalidSpec(f"unknown partition term {kind!r}")


def _parse_user(argument: str) -> ByUser:
    # isdecimal() keeps out signs, spaces and non-ASCII digits that int() takes.
    count = int(argument) if argument.isascii() and argument.isdecimal() else 0
    if not 1 <= count <= MAX_ANONYMOUS_ROOMS:
        raise InvalidSpec(
            f"user room count must be 1 to {MAX_ANONYMOUS_ROOMS}, not {argument!r}"
        )
    return ByUser(count)


def _parse_entity(prefix: str) -> ByEntity:
    try:
        return ByEntity(prefix)
    except InvalidRoomName as error:
        raise InvalidSpec(f"entity prefix {prefix!r} is not a room prefix") from error


def _parse_query(argument: str) -> ByQueryParameter:
    listed, equals, default = argument.partition("=")
    if not listed:
        raise InvalidSpec("query needs at least one parameter name")
    names = listed.split(",")
    if not all(names):
        raise InvalidSpec("query has an empty parameter name")

    # "query:a" has the default room, "query:a=" none, "query:a=r" room r.
    if not equals:
        return ByQueryParameter(names, default=_DEFAULT_QUERY_ROOM)
    if not default:
        return ByQueryParameter(names, default=None)
    try:
        return ByQueryParameter(names, default=default)
    except InvalidRoomName as error:
        raise InvalidSpec(f"query default {default!r} is not a room name") from error


def _parse_fixed(name: str) -> Fixed:
    if not name:
        raise InvalidSpec("fixed needs a room name")
    try:
        return Fixed(name)
    except InvalidRoomName as error:
        raise InvalidSpec(f"fixed room {name!r} is not a room name") from error


def _describe_query(strategy: ByQueryParameter) -> str:
    if strategy.prefixes is not None:
        raise InvalidSpec("a query strategy with prefixes has no spec text")
    for name in strategy.names:
        if _QUERY_SEPARATORS & set(name) or name != name.strip():
            raise InvalidSpec(f"query parameter name {name!r} has no spec text")

    text = "query:" + ",".join(strategy.names)
    if strategy.default is None:
        return text + "="
    if strategy.default == _DEFAULT_QUERY_ROOM:
        return text
    return f"{text}={strategy.default}"
