"""parse_spec and describe: strategies as text."""

from __future__ import annotations

import pytest

from partyray.partitioning import (
    ByEntity,
    ByQueryParameter,
    ByUser,
    Dedicated,
    FirstMatch,
    Fixed,
    InvalidSpec,
    PartitionError,
    PartitionStrategy,
    Placement,
    RemultPartykit,
    describe,
    parse_spec,
)

SPECS: list[tuple[str, PartitionStrategy]] = [
    ("remult", RemultPartykit()),
    ("user", ByUser()),
    ("user:4", ByUser(4)),
    ("user:65536", ByUser(65536)),
    ("entity", ByEntity()),
    ("entity:e.", ByEntity("e.")),
    ("entity:", ByEntity("")),
    ("query:roomId,userId", ByQueryParameter(("roomId", "userId"), default="global")),
    ("query:roomId", ByQueryParameter(("roomId",))),
    ("query:roomId=lobby", ByQueryParameter(("roomId",), default="lobby")),
    ("query:roomId=", ByQueryParameter(("roomId",), default=None)),
    ("query:a b", ByQueryParameter(("a b",))),
    ("fixed:global", Fixed("global")),
    (
        "user|entity|fixed:global",
        FirstMatch(ByUser(), ByEntity(), Fixed("global")),
    ),
    (
        "query:roomId=|remult",
        FirstMatch(ByQueryParameter("roomId", default=None), RemultPartykit()),
    ),
]


@pytest.mark.parametrize(("text", "strategy"), SPECS)
def test_parse(text: str, strategy: PartitionStrategy) -> None:
    """Each term builds its strategy."""
    assert parse_spec(text) == strategy


@pytest.mark.parametrize(("text", "strategy"), SPECS)
def test_describe_round_trips(text: str, strategy: PartitionStrategy) -> None:
    """describe writes the canonical text, which parses back to the same value."""
    assert describe(strategy) == text
    assert parse_spec(describe(strategy)) == strategy


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        (" user | entity ", "user|entity"),
        ("user:16", "user"),
        ("user:0016", "user"),
        ("entity:entity:", "entity"),
        ("query:roomId,userId=global", "query:roomId,userId"),
    ],
)
def test_equivalent_texts(text: str, canonical: str) -> None:
    """Spaces and spelled-out defaults parse to the canonical strategy."""
    assert describe(parse_spec(text)) == canonical


def test_single_term_is_not_wrapped() -> None:
    """One term gives its strategy itself, not a chain of one."""
    assert type(parse_spec("user")) is ByUser


def test_parsed_strategy_resolves() -> None:
    """A parsed chain resolves as the strategies it names."""
    strategy = parse_spec("user|entity|fixed:global")
    assert strategy.resolve("users:u1:queries:q1").name == "user:u1"
    assert strategy.resolve("/api/Tasks").name == "entity:Tasks"
    assert strategy.resolve("a:b").name == "global"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "partition spec is empty"),
        ("   ", "partition spec is empty"),
        ("user|", "empty term in partition spec"),
        ("|user", "empty term in partition spec"),
        ("user||entity", "empty term in partition spec"),
        ("users", "unknown partition term 'users'"),
        ("User", "unknown partition term 'User'"),
        ("global", "unknown partition term 'global'"),
        ("first:user", "unknown partition term 'first'"),
        ("remult:x", "remult takes no argument"),
        ("remult:", "remult takes no argument"),
        ("user:", "user room count must be 1 to 65536, not ''"),
        ("user:0", "user room count must be 1 to 65536, not '0'"),
        ("user:-1", "user room count must be 1 to 65536, not '-1'"),
        ("user:+4", "user room count must be 1 to 65536, not '+4'"),
        ("user:4.0", "user room count must be 1 to 65536, not '4.0'"),
        ("user:x", "user room count must be 1 to 65536, not 'x'"),
        ("user:٤", "user room count must be 1 to 65536, not '٤'"),
        ("user:65537", "user room count must be 1 to 65536, not '65537'"),
        ("entity:a/b", "entity prefix 'a/b' is not a room prefix"),
        ("query", "query needs at least one parameter name"),
        ("query:", "query needs at least one parameter name"),
        ("query:=global", "query needs at least one parameter name"),
        ("query:a,,b", "query has an empty parameter name"),
        ("query:a,", "query has an empty parameter name"),
        ("query:a=b c", "query default 'b c' is not a room name"),
        ("fixed", "fixed needs a room name"),
        ("fixed:", "fixed needs a room name"),
        ("fixed:a b", "fixed room 'a b' is not a room name"),
        ("fixed:" + "g" * 201, f"fixed room {'g' * 201!r} is not a room name"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    """Bad spec text raises InvalidSpec with a pinned message."""
    with pytest.raises(InvalidSpec) as raised:
        parse_spec(text)
    assert str(raised.value) == message
    assert isinstance(raised.value, PartitionError)


def place(channel: str, room: str) -> Placement:
    return Placement()


@pytest.mark.parametrize(
    ("strategy", "message"),
    [
        (
            Fixed("g", Placement(region="eu")),
            "a fixed room with a placement has no spec text",
        ),
        (
            ByQueryParameter(prefixes={"roomId": "room:"}),
            "a query strategy with prefixes has no spec text",
        ),
        (ByQueryParameter("a,b"), "query parameter name 'a,b' has no spec text"),
        (ByQueryParameter("a=b"), "query parameter name 'a=b' has no spec text"),
        (ByQueryParameter(" a"), "query parameter name ' a' has no spec text"),
        (Dedicated(ByEntity(), place), "Dedicated has no spec text"),
        (ByUser() | Dedicated(ByEntity(), place), "Dedicated has no spec text"),
    ],
)
def test_describe_errors(strategy: PartitionStrategy, message: str) -> None:
    """Strategies the grammar cannot express raise InvalidSpec."""
    with pytest.raises(InvalidSpec) as raised:
        describe(strategy)
    assert str(raised.value) == message
