"""ByQueryParameter, and the URLSearchParams reading it shares with RemultPartykit."""

from __future__ import annotations

import pytest

from partyray.partitioning import (
    ByQueryParameter,
    InvalidRoomName,
    RoomAddress,
    RoomName,
    UnresolvableChannel,
)
from partyray.partitioning._query import first_values, query_of


def room(strategy: ByQueryParameter, channel: str) -> str | None:
    address = strategy.match(channel)
    return None if address is None else address.name


@pytest.mark.parametrize(
    ("channel", "query"),
    [
        ("chat", None),
        ("", None),
        ("?", ""),
        ("chat?", ""),
        ("chat?a=1", "a=1"),
        ("chat?a=1?b=2", "a=1?b=2"),
        ("?a", "a"),
    ],
)
def test_query_of(channel: str, query: str | None) -> None:
    """The query string is everything after the first question mark."""
    assert query_of(channel) == query


@pytest.mark.parametrize(
    ("query", "values"),
    [
        ("", {}),
        ("&&", {}),
        ("a=1", {"a": "1"}),
        ("a", {"a": ""}),
        ("a=", {"a": ""}),
        ("=1", {"": "1"}),
        ("a=1&a=2", {"a": "1"}),
        ("a=&a=2", {"a": ""}),
        ("a=1=2", {"a": "1=2"}),
        ("a=x+y", {"a": "x y"}),
        ("a=x%2By", {"a": "x+y"}),
        ("a%62=1", {"ab": "1"}),
        ("a+b=1", {"a b": "1"}),
        ("a=%41%42", {"a": "AB"}),
        ("a=caf%C3%A9", {"a": "café"}),
        ("a=café", {"a": "café"}),
        ("a=%FF", {"a": "\ufffd"}),
        ("a=%", {"a": "%"}),
        ("a=%zz", {"a": "%zz"}),
        ("a=%4", {"a": "%4"}),
        ("?a=1", {"a": "1"}),
        ("??a=1", {"?a": "1"}),
        ("a=1#b", {"a": "1#b"}),
        ("a=1;b=2", {"a": "1;b=2"}),
    ],
)
def test_first_values(query: str, values: dict[str, str]) -> None:
    """Query strings read as URLSearchParams reads them, first value per name."""
    assert first_values(query) == values


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        ("chat?roomId=r1", "r1"),
        ("chat?userId=u1", "u1"),
        ("chat?userId=u1&roomId=r1", "r1"),
        ("chat?roomId=&userId=u1", "u1"),
        ("chat?roomId&userId=u1", "u1"),
        ("chat?roomId=r1&roomId=r2", "r1"),
        ("chat?roomId=&roomId=r2", "global"),
        ("chat?room%49d=r1", "r1"),
        ("chat?roomId=r%31", "r1"),
        ("chat?roomId=a%2Bb", "a+b"),
        ("chat?x=1&roomId=r1", "r1"),
        ("chat??roomId=r1", "r1"),
        ("chat?x=1?roomId=r1", "global"),
        ("chat?roomid=r1", "global"),
        ("chat", "global"),
        ("chat?", "global"),
        ("?", "global"),
        ("", "global"),
        ("roomId=r1", "global"),
        ("users:u1:queries:q1", "global"),
    ],
)
def test_default_names(channel: str, expected: str) -> None:
    """roomId, then userId, then the global room."""
    assert room(ByQueryParameter(), channel) == expected


def test_match_gives_anywhere_placement() -> None:
    """The built room has the default placement."""
    assert ByQueryParameter().match("chat?roomId=r1") == RoomAddress(RoomName("r1"))


def test_custom_names_and_default() -> None:
    """Names are read in the order given, falling back to the given default."""
    strategy = ByQueryParameter(("team", "org"), default="lobby")
    assert room(strategy, "x?org=o1&team=t1") == "t1"
    assert room(strategy, "x?org=o1") == "o1"
    assert room(strategy, "x?roomId=r1") == "lobby"


def test_single_name_string() -> None:
    """A lone string is one parameter name."""
    strategy = ByQueryParameter("roomId")
    assert strategy.names == ("roomId",)
    assert room(strategy, "x?roomId=r1") == "r1"


def test_no_default_means_no_match() -> None:
    """Without a default, a channel without the names is left unmatched."""
    strategy = ByQueryParameter(default=None)
    assert strategy.match("chat") is None
    assert strategy.match("chat?roomId=") is None
    with pytest.raises(UnresolvableChannel, match=r"^no room for channel 'chat'$"):
        strategy.resolve("chat")


def test_prefixes() -> None:
    """A name's prefix leads the room name; names without one have none."""
    strategy = ByQueryParameter(prefixes={"roomId": "room:"})
    assert room(strategy, "chat?roomId=r1") == "room:r1"
    assert room(strategy, "chat?userId=u1") == "u1"
    assert room(strategy, "chat") == "global"


def test_prefixes_are_normalised() -> None:
    """Prefixes given as a mapping or pairs, in any order, build equal strategies."""
    a = ByQueryParameter(prefixes={"userId": "user:", "roomId": "room:"})
    b = ByQueryParameter(prefixes=[("roomId", "room:"), ("userId", "user:")])
    assert a == b
    assert hash(a) == hash(b)
    assert a.prefixes == (("roomId", "room:"), ("userId", "user:"))
    assert ByQueryParameter(prefixes={}).prefixes is None


@pytest.mark.parametrize(
    "channel",
    [
        "chat?roomId=a+b",
        "chat?roomId=a%20b",
        "chat?roomId=caf%C3%A9",
        "chat?roomId=café",
        "chat?roomId=%FF",
        "chat?roomId=r1%2Fx",
        "chat?roomId=r1#frag",
        "chat?roomId=%",
        "chat?roomId=" + "r" * 201,
    ],
)
def test_bad_value_raises(channel: str) -> None:
    """A value outside the room-name rules raises rather than using the default."""
    with pytest.raises(InvalidRoomName):
        ByQueryParameter().match(channel)
    with pytest.raises(InvalidRoomName):
        ByQueryParameter().resolve(channel)


def test_longest_value() -> None:
    """A value of exactly the longest room name is accepted, one more is not."""
    assert room(ByQueryParameter(), "c?roomId=" + "r" * 200) == "r" * 200
    strategy = ByQueryParameter(prefixes={"roomId": "room:"})
    with pytest.raises(InvalidRoomName, match=r"^room name exceeds 200 characters"):
        strategy.match("c?roomId=" + "r" * 196)


def test_bad_value_message() -> None:
    """The error names the room name and the allowed characters."""
    with pytest.raises(InvalidRoomName) as raised:
        ByQueryParameter().match("chat?roomId=a+b")
    assert str(raised.value) == (
        "room name 'a b' has a character outside letters, digits and '_-.:@+=~'"
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"names": ()}, ValueError, "query strategy needs at least one name"),
        ({"names": ("a", "")}, ValueError, "query parameter name is empty"),
        ({"prefixes": {"x": "p:"}}, ValueError, "prefix for unknown name 'x'"),
        ({"default": ""}, InvalidRoomName, "room name is empty"),
        (
            {"default": "a b"},
            InvalidRoomName,
            "room name 'a b' has a character outside letters, digits and '_-.:@+=~'",
        ),
        (
            {"prefixes": {"roomId": "room "}},
            InvalidRoomName,
            "room prefix 'room ' has a character outside "
            "letters, digits and '_-.:@+=~'",
        ),
        (
            {"prefixes": {"roomId": "p" * 200}},
            InvalidRoomName,
            "room prefix exceeds 199 characters: " + repr("p" * 40) + "...",
        ),
    ],
)
def test_bad_arguments(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    """Bad arguments fail when the strategy is built, with pinned messages."""
    with pytest.raises(error) as raised:
        ByQueryParameter(**kwargs)  # type: ignore[arg-type]
    assert str(raised.value) == message
