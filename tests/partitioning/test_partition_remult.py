"""RemultPartykit: the exact rooms of the npm package remult-partykit."""

from __future__ import annotations

import pytest

from partyray.partitioning import InvalidRoomName, RemultPartykit

# Channel and the room remult-partykit's own resolution gives it.
PARITY = [
    # Live queries: the user id between "users:" and the first ":queries:".
    ("users:u1:queries:q1", "user:u1"),
    ("users:undefined:queries:0b7c6f0e-8c3a-4d1e-9f1a-2c3b4d5e6f70", "user:undefined"),
    ("users:u1:queries:", "user:u1"),
    ("users:u1:queries:q1?roomId=r1", "user:u1"),
    ("users:a:queries:b:queries:c", "user:a"),
    ("users:a:b:queries:c", "user:a:b"),
    # An empty user id, or ":queries:" before index 6, is not a live query.
    ("users::queries:x", "global"),
    ("users:queries:x", "global"),
    ("users::queries:x?roomId=r1", "room:r1"),
    ("users:queries:x?userId=u1", "user:u1"),
    ("users:u1", "global"),
    ("Users:u1:queries:q1", "global"),
    ("users:u1:Queries:q1", "global"),
    # No query string: the global room.
    ("", "global"),
    ("chat", "global"),
    ("/api/Tasks", "global"),
    # Query keys, in the order roomId, readerId, userId.
    ("chat?roomId=r1", "room:r1"),
    ("chat?readerId=d1", "reader:d1"),
    ("chat?userId=u1", "user:u1"),
    ("chat?userId=u1&readerId=d1&roomId=r1", "room:r1"),
    ("chat?userId=u1&readerId=d1", "reader:d1"),
    ("chat?roomId=&readerId=d1", "reader:d1"),
    ("chat?roomId&userId=u1", "user:u1"),
    ("chat?roomId=r1&roomId=r2", "room:r1"),
    ("chat?roomId=&roomId=r2", "global"),
    ("chat?x=1", "global"),
    ("chat?roomid=r1", "global"),
    ("?", "global"),
    ("chat?", "global"),
    ("?roomId=r1", "room:r1"),
    ("chat??roomId=r1", "room:r1"),
    ("chat?x=1?roomId=r1", "global"),
    # URLSearchParams decoding.
    ("chat?roomId=r%31", "room:r1"),
    ("chat?room%49d=r1", "room:r1"),
    ("chat?roomId=a%2Bb", "room:a+b"),
    ("chat?roomId=a%3Ab", "room:a:b"),
    ("chat?roomId=%7Ex", "room:~x"),
]


@pytest.mark.parametrize(("channel", "expected"), PARITY)
def test_parity(channel: str, expected: str) -> None:
    """The room matches remult-partykit's for the same channel."""
    address = RemultPartykit().match(channel)
    assert address.name == expected
    assert RemultPartykit().resolve(channel) == address


@pytest.mark.parametrize(
    "channel",
    [
        "chat?roomId=a+b",
        "chat?roomId=a%20b",
        "chat?roomId=caf%C3%A9",
        "chat?readerId=r/1",
        "chat?userId=%FF",
        "chat?roomId=" + "r" * 196,
        "users:a b:queries:q1",
        "users:é:queries:q1",
    ],
)
def test_bad_values_raise(channel: str) -> None:
    """A value outside the room-name rules raises; it never falls back to global."""
    with pytest.raises(InvalidRoomName):
        RemultPartykit().match(channel)


def test_longest_value() -> None:
    """'room:' and 195 characters is the longest room it builds."""
    assert RemultPartykit().match("c?roomId=" + "r" * 195).name == "room:" + "r" * 195
