"""Fixed, FirstMatch and chaining with |."""

from __future__ import annotations

import pytest

from partyray.partitioning import (
    ANYWHERE,
    BaseStrategy,
    ByEntity,
    ByQueryParameter,
    ByUser,
    FirstMatch,
    Fixed,
    InvalidRoomName,
    Placement,
    RoomAddress,
    RoomName,
    UnresolvableChannel,
)


class Exploding(BaseStrategy):
    """A strategy that fails on every channel."""

    def match(self, channel: str) -> RoomAddress | None:
        raise InvalidRoomName("boom")


class Never:
    """A strategy of one's own that is not a BaseStrategy and never matches."""

    def match(self, channel: str) -> RoomAddress | None:
        return None

    def resolve(self, channel: str) -> RoomAddress:
        raise UnresolvableChannel("never")


@pytest.mark.parametrize("channel", ["", "?", "chat?roomId=r1", "users:u1:queries:q"])
def test_fixed(channel: str) -> None:
    """Fixed sends every channel to its room, with its placement."""
    placement = Placement(region="eu")
    assert Fixed("global").match(channel) == RoomAddress(RoomName("global"))
    assert Fixed("lobby", placement).resolve(channel) == RoomAddress(
        RoomName("lobby"), placement
    )


def test_fixed_default_placement() -> None:
    """Fixed places its room anywhere unless told."""
    assert Fixed("global").placement is ANYWHERE


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "room name is empty"),
        (
            "a b",
            "room name 'a b' has a character outside letters, digits and '_-.:@+=~'",
        ),
    ],
)
def test_fixed_bad_name(name: str, message: str) -> None:
    """A bad fixed name fails when built."""
    with pytest.raises(InvalidRoomName) as raised:
        Fixed(name)
    assert str(raised.value) == message


def test_first_match_order() -> None:
    """The first strategy that matches wins."""
    strategy = FirstMatch(ByUser(), ByEntity(), Fixed("global"))
    assert strategy.resolve("users:u1:queries:q1").name == "user:u1"
    assert strategy.resolve("chat?userId=u1").name == "user:u1"
    assert strategy.resolve("/api/Tasks").name == "entity:Tasks"
    assert strategy.resolve("a:b").name == "global"


def test_first_match_none() -> None:
    """A chain where nothing matches is unresolvable, with a pinned message."""
    strategy = FirstMatch(ByUser(), ByEntity())
    assert strategy.match("a:b") is None
    with pytest.raises(UnresolvableChannel) as raised:
        strategy.resolve("a:b")
    assert str(raised.value) == "no room for channel 'a:b'"


def test_unresolvable_message_is_cut() -> None:
    """A long channel is cut to 80 characters in the message."""
    with pytest.raises(UnresolvableChannel) as raised:
        ByUser().resolve("x" * 500)
    assert str(raised.value) == f"no room for channel {'x' * 80!r}"


def test_first_match_errors_stop_the_search() -> None:
    """An error from a strategy is raised, not skipped over."""
    with pytest.raises(InvalidRoomName, match=r"^boom$"):
        FirstMatch(Exploding(), Fixed("global")).match("chat")
    with pytest.raises(InvalidRoomName):
        FirstMatch(ByQueryParameter(default=None), Fixed("g")).match("c?roomId=a b")


def test_first_match_takes_any_strategy() -> None:
    """Any object with match and resolve can be chained."""
    strategy = FirstMatch(Never(), Fixed("global"))
    assert strategy.resolve("chat").name == "global"


def test_first_match_flattens() -> None:
    """Nested chains are flattened, so | builds the same value as one call."""
    user, entity, fixed = ByUser(), ByEntity(), Fixed("global")
    flat = FirstMatch(user, entity, fixed)
    assert FirstMatch(FirstMatch(user, entity), fixed) == flat
    assert user | entity | fixed == flat
    assert user | (entity | fixed) == flat
    assert flat.strategies == (user, entity, fixed)


def test_first_match_needs_a_strategy() -> None:
    """An empty chain is refused."""
    with pytest.raises(ValueError, match=r"^firstmatch needs at least one strategy$"):
        FirstMatch()


def test_first_match_repr_evaluates() -> None:
    """The repr is the constructor call that builds an equal chain."""
    strategy = FirstMatch(ByUser(4), ByEntity(), Fixed("global"))
    assert repr(strategy) == (
        "FirstMatch(ByUser(anonymous_rooms=4), ByEntity(prefix='entity:'), "
        "Fixed(name='global', placement=Placement(region=None, strict=False, "
        "dedicated=False)))"
    )
    namespace = {
        "FirstMatch": FirstMatch,
        "ByUser": ByUser,
        "ByEntity": ByEntity,
        "Fixed": Fixed,
        "Placement": Placement,
    }
    assert eval(repr(strategy), namespace) == strategy


def test_values_are_frozen() -> None:
    """Strategies cannot be changed after they are built."""
    with pytest.raises(AttributeError):
        ByUser().anonymous_rooms = 3  # type: ignore[misc]
    with pytest.raises(AttributeError):
        FirstMatch(ByUser()).strategies = ()  # type: ignore[misc]


def test_strategies_hash() -> None:
    """Equal strategies hash equal, so they can key a cache."""
    assert hash(ByUser() | Fixed("g")) == hash(FirstMatch(ByUser(), Fixed("g")))
    assert len({ByEntity(), ByEntity("entity:"), ByEntity("e:")}) == 2
