"""ByUser: a room per signed-in user, anonymous live queries spread over a few."""

from __future__ import annotations

import hashlib
import random
import uuid
from collections import Counter

import pytest

from partyray.partitioning import ByUser, InvalidRoomName, UnresolvableChannel


def room(strategy: ByUser, channel: str) -> str | None:
    address = strategy.match(channel)
    return None if address is None else address.name


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        ("users:u1:queries:q1", "user:u1"),
        ("users:u1:queries:", "user:u1"),
        ("users:u1:queries:q1?userId=u2", "user:u1"),
        ("users:a:queries:b:queries:c", "user:a"),
        ("users:u@example.com:queries:q1", "user:u@example.com"),
        ("chat?userId=u1", "user:u1"),
        ("chat?userId=u1&userId=u2", "user:u1"),
        ("?userId=u%31", "user:u1"),
        ("users:u1?userId=u2", "user:u2"),
    ],
)
def test_user_rooms(channel: str, expected: str) -> None:
    """Live queries and userId parameters go to the user's room."""
    assert room(ByUser(), channel) == expected


@pytest.mark.parametrize(
    "channel",
    [
        "",
        "?",
        "chat",
        "chat?userId=",
        "chat?roomId=r1",
        "/api/Tasks",
        "users:u1",
        "users:queries:q1",
        "users:u1:queriesq1",
        "Users:u1:queries:q1",
        "users:u1:Queries:q1",
    ],
)
def test_no_match(channel: str) -> None:
    """Other channels are not matched."""
    assert ByUser().match(channel) is None
    with pytest.raises(UnresolvableChannel):
        ByUser().resolve(channel)


@pytest.mark.parametrize(
    "channel",
    ["users:undefined:queries:q1", "users::queries:q1", "users:undefined:queries:"],
)
def test_anonymous_rooms(channel: str) -> None:
    """Anonymous live queries go to one of the anonymous rooms."""
    name = room(ByUser(), channel)
    assert name is not None
    assert name in {f"anonymous:{k}" for k in range(16)}


def test_anonymous_room_is_pinned() -> None:
    """The hash is part of the contract: these rooms must never move."""
    assert room(ByUser(), "users:undefined:queries:q1") == "anonymous:2"
    assert room(ByUser(), "users::queries:x") == "anonymous:5"
    assert room(ByUser(), "users:undefined:queries:") == "anonymous:5"
    assert room(ByUser(1000), "users:undefined:queries:q1") == "anonymous:194"


def test_anonymous_room_formula() -> None:
    """k is an 8-byte personalised BLAKE2b of the query id, big-endian, mod N."""
    query_id = "0b7c6f0e-8c3a-4d1e-9f1a-2c3b4d5e6f70"
    digest = hashlib.blake2b(
        query_id.encode(), digest_size=8, person=b"partyray:anon"
    ).digest()
    k = int.from_bytes(digest, "big") % 16
    assert room(ByUser(), f"users:undefined:queries:{query_id}") == f"anonymous:{k}"


def test_anonymous_room_depends_on_query_only() -> None:
    """'undefined' and an empty user id share a query's room."""
    assert room(ByUser(), "users:undefined:queries:abc") == room(
        ByUser(), "users::queries:abc"
    )


def test_one_anonymous_room() -> None:
    """With one anonymous room every anonymous query shares it."""
    assert room(ByUser(1), "users:undefined:queries:q1") == "anonymous:0"
    assert room(ByUser(1), "users:undefined:queries:q2") == "anonymous:0"


def test_anonymous_spread() -> None:
    """1,000 random query ids use all 16 rooms, none with over 3x its share."""
    rng = random.Random(20240611)
    counts = Counter(
        room(ByUser(), f"users:undefined:queries:{uuid.UUID(int=rng.getrandbits(128))}")
        for _ in range(1000)
    )
    assert len(counts) == 16
    assert max(counts.values()) <= 3 * 1000 / 16


def test_lone_surrogate_hashes() -> None:
    """A lone surrogate, which JSON allows, does not break the hash."""
    assert room(ByUser(), "users:undefined:queries:\ud800") is not None


@pytest.mark.parametrize(
    "channel",
    [
        "users:a b:queries:q1",
        "users:u?1:queries:q1",
        "users:" + "u" * 196 + ":queries:q1",
        "chat?userId=a+b",
        "chat?userId=\ud800",
    ],
)
def test_bad_user_raises(channel: str) -> None:
    """A user id outside the room-name rules raises."""
    with pytest.raises(InvalidRoomName):
        ByUser().match(channel)


@pytest.mark.parametrize(
    ("rooms", "error", "message"),
    [
        (0, ValueError, "anonymous_rooms must be between 1 and 65536"),
        (65537, ValueError, "anonymous_rooms must be between 1 and 65536"),
        (-1, ValueError, "anonymous_rooms must be between 1 and 65536"),
        (True, TypeError, "anonymous_rooms must be an int"),
        (16.0, TypeError, "anonymous_rooms must be an int"),
    ],
)
def test_bad_room_count(rooms: object, error: type[Exception], message: str) -> None:
    """The anonymous room count is checked when built."""
    with pytest.raises(error) as raised:
        ByUser(rooms)  # type: ignore[arg-type]
    assert str(raised.value) == message
