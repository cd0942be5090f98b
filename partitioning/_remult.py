"""Recognising Remult live-query channels: ``users:<user id>:queries:<query id>``.

Remult names the channel of a live query after the user who runs it, with the
text ``undefined`` for a user who is not signed in.
"""

from __future__ import annotations

__all__ = ["ANONYMOUS_USER", "live_query"]

#: The user id Remult writes into a live-query channel for a signed-out user.
ANONYMOUS_USER = "undefined"

_USERS = "users:"
_QUERIES = ":queries:"


def live_query(channel: str) -> tuple[str, str] | None:
    """``(user id, query id)`` of a live-query channel, or ``None`` for another.

    The user id is the text between ``users:`` and the first ``:queries:``
    after it, and may be empty (``users::queries:q1``); the query id is all
    the text after that ``:queries:``, ``?`` included.
    """
    if not channel.startswith(_USERS):
        return None
    at = channel.find(_QUERIES, len(_USERS))
    if at < 0:
        return None
    return channel[len(_USERS) : at], channel[at + len(_QUERIES) :]
