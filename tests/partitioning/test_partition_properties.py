"""Properties every strategy keeps: determinism, valid rooms, only partition errors."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from partyray.partitioning import (
    ByEntity,
    ByQueryParameter,
    ByUser,
    Dedicated,
    FirstMatch,
    Fixed,
    PartitionError,
    PartitionStrategy,
    Placement,
    RemultPartykit,
    RoomAddress,
    UnresolvableChannel,
    WithPlacement,
    WithRegion,
    parse_spec,
    room_name,
)


def eu(channel: str, room: str) -> Placement:
    return Placement(region="eu", strict=True)


def region_of(channel: str, room: str) -> str | None:
    return "us" if room.startswith("user:") else None


def is_global(room: str) -> bool:
    return room == "global"


STRATEGIES: list[PartitionStrategy] = [
    ByQueryParameter(),
    ByQueryParameter(("team",), default=None, prefixes={"team": "team:"}),
    ByEntity(),
    ByEntity(""),
    ByUser(),
    ByUser(1),
    RemultPartykit(),
    Fixed("global"),
    Fixed("eu-lobby", Placement(region="eu", strict=True, dedicated=True)),
    FirstMatch(ByUser(), ByEntity(), Fixed("global")),
    ByUser(3) | ByQueryParameter(default=None),
    WithPlacement(ByEntity(), eu),
    WithRegion(ByUser(), region_of, strict=True),
    Dedicated(RemultPartykit(), {"global", "room:r1"}),
    Dedicated(ByQueryParameter(), is_global),
    parse_spec("user:8|entity:e.|query:roomId,readerId=|fixed:global"),
]

IDS = [repr(strategy)[:60] for strategy in STRATEGIES]

# Channels built from the pieces the strategies look for, so that the search
# reaches live queries, query strings and escapes rather than only noise.
PIECES = st.sampled_from(
    [
        "users:",
        ":queries:",
        "undefined",
        "?",
        "&",
        "=",
        "+",
        "%",
        "%2B",
        "%C3%A9",
        "%FF",
        "/",
        "/api/",
        "roomId",
        "readerId",
        "userId",
        "team",
        "Tasks",
        "u1",
        "r1",
        ":",
        " ",
        "é",
        "\ud800",
        "_",
        "x" * 120,
    ]
)
CHANNELS = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(PIECES, st.text(max_size=5)), max_size=12).map("".join),
)


def outcome(strategy: PartitionStrategy, channel: str) -> object:
    try:
        return strategy.resolve(channel)
    except PartitionError as error:
        return (type(error), str(error))


@pytest.mark.parametrize("strategy", STRATEGIES, ids=IDS)
def test_pickle_round_trip(strategy: PartitionStrategy) -> None:
    """Every strategy pickles to an equal value, as it does to reach an actor."""
    copy = pickle.loads(pickle.dumps(strategy))
    assert copy == strategy
    assert type(copy) is type(strategy)
    assert repr(copy) == repr(strategy)


@pytest.mark.parametrize("strategy", STRATEGIES, ids=IDS)
@given(channel=CHANNELS)
def test_deterministic(strategy: PartitionStrategy, channel: str) -> None:
    """The same channel always gives the same room, even after a pickle trip."""
    copy = pickle.loads(pickle.dumps(strategy))
    first = outcome(strategy, channel)
    assert outcome(strategy, channel) == first
    assert outcome(copy, channel) == first


@pytest.mark.parametrize("strategy", STRATEGIES, ids=IDS)
@given(channel=CHANNELS)
def test_resolve_is_valid_or_a_partition_error(
    strategy: PartitionStrategy, channel: str
) -> None:
    """resolve gives a valid room address or raises a PartitionError, nothing else."""
    try:
        address = strategy.resolve(channel)
    except PartitionError:
        return
    assert isinstance(address, RoomAddress)
    assert isinstance(address.placement, Placement)
    assert room_name(address.name) == address.name


@pytest.mark.parametrize("strategy", STRATEGIES, ids=IDS)
@given(channel=CHANNELS)
def test_match_agrees_with_resolve(strategy: PartitionStrategy, channel: str) -> None:
    """match gives resolve's address, or None exactly when resolve is unresolvable."""
    try:
        matched = strategy.match(channel)
    except PartitionError as error:
        assert outcome(strategy, channel) == (type(error), str(error))
        return
    if matched is None:
        with pytest.raises(UnresolvableChannel):
            strategy.resolve(channel)
    else:
        assert strategy.resolve(channel) == matched


@given(channel=CHANNELS)
def test_remult_always_matches(channel: str) -> None:
    """RemultPartykit never leaves a channel unmatched."""
    try:
        assert RemultPartykit().match(channel) is not None
    except PartitionError as error:
        assert not isinstance(error, UnresolvableChannel)


@given(user=st.from_regex(r"[A-Za-z0-9_\-.@+=~]{1,50}", fullmatch=True))
def test_by_user_agrees_with_remult_for_users(user: str) -> None:
    """ByUser and RemultPartykit give a signed-in user's live query the same room."""
    channel = f"users:{user}:queries:q1"
    if user == "undefined":
        return
    assert ByUser().resolve(channel) == RemultPartykit().resolve(channel)
