"""Subscription checks: who may subscribe to which channel of a room.

A check is a function ``(channel, room, principal) -> bool``. ``principal`` is
the user id the connection proved with its token, or ``None`` for an anonymous
connection. A check must be cheap and pure: rooms call it on every subscribe.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl

__all__ = ["SubscriptionCheck", "allow_all", "channel_owner", "users_own_channels"]

SubscriptionCheck = Callable[[str, str, "str | None"], bool]

_ANONYMOUS = "undefined"


def channel_owner(channel: str) -> str | None:
    """The user a channel belongs to, or ``None`` for a channel of no one user.

    ``users:<id>:...`` (Remult live queries) and a ``userId`` query parameter
    name the owner. ``users:undefined:...`` is an anonymous live query and
    belongs to no one.
    """
    if channel.startswith("users:"):
        owner, colon, _ = channel[len("users:") :].partition(":")
        if colon and owner and owner != _ANONYMOUS:
            return owner
        if colon and owner == _ANONYMOUS:
            return None
    _, question, query = channel.partition("?")
    if question:
        for key, value in parse_qsl(query, keep_blank_values=True):
            if key == "userId" and value:
                return value
    return None


def users_own_channels(channel: str, room: str, principal: str | None) -> bool:
    """The built-in rule: a user's channels are for that user alone.

    Channels ``users:<id>:...`` and ``...?userId=<id>`` are refused to every
    principal but ``<id>``, anonymous connections included. Anonymous Remult
    live queries (``users:undefined:...``) and every other channel are open:
    a live query's id is an unguessable UUID.
    """
    owner = channel_owner(channel)
    return owner is None or owner == principal


def allow_all(channel: str, room: str, principal: str | None) -> bool:
    """A check that accepts every subscription."""
    return True
