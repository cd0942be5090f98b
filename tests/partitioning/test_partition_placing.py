"""WithPlacement, WithRegion and Dedicated: changing where rooms run."""

from __future__ import annotations

import pytest

from partyray.partitioning import (
    ByEntity,
    ByUser,
    Dedicated,
    Fixed,
    InvalidRoomName,
    Placement,
    RoomAddress,
    RoomName,
    WithPlacement,
    WithRegion,
)


def eu_strict(channel: str, room: str) -> Placement:
    return Placement(region="eu", strict=True)


def region_by_room(channel: str, room: str) -> str | None:
    return "us" if room.endswith("US") else None


def is_orders(room: str) -> bool:
    return room == "entity:Orders"


def test_with_placement() -> None:
    """The returned placement replaces the inner one; the name is kept."""
    strategy = WithPlacement(Fixed("global", Placement(dedicated=True)), eu_strict)
    assert strategy.resolve("chat") == RoomAddress(
        RoomName("global"), Placement(region="eu", strict=True)
    )


def test_with_placement_sees_channel_and_room() -> None:
    """placement_of is called with the channel and the room name."""
    calls: list[tuple[str, str]] = []

    def record(channel: str, room: str) -> Placement:
        calls.append((channel, room))
        return Placement()

    WithPlacement(ByEntity(), record).match("/api/Tasks")
    assert calls == [("/api/Tasks", "entity:Tasks")]


def test_wrappers_keep_no_match() -> None:
    """A channel the inner strategy leaves is left by every wrapper."""
    inner = ByUser()
    assert WithPlacement(inner, eu_strict).match("chat") is None
    assert WithRegion(inner, region_by_room).match("chat") is None
    assert Dedicated(inner, is_orders).match("chat") is None


def test_with_region_hint_and_strict() -> None:
    """A region is a hint unless strict; dedicated is kept."""
    inner = Fixed("roomUS", Placement(dedicated=True))
    assert WithRegion(inner, region_by_room).resolve("c").placement == Placement(
        region="us", dedicated=True
    )
    assert WithRegion(inner, region_by_room, strict=True).resolve(
        "c"
    ).placement == Placement(region="us", strict=True, dedicated=True)


def test_with_region_none_keeps_placement() -> None:
    """No region from region_of keeps the inner placement as it is."""
    placement = Placement(region="ap", strict=True)
    strategy = WithRegion(Fixed("global", placement), region_by_room, strict=False)
    assert strategy.resolve("c").placement == placement


def test_dedicated_by_names() -> None:
    """Listed rooms get an actor of their own; region and strictness are kept."""
    inner = WithRegion(ByEntity(), region_by_room, strict=True)
    strategy = Dedicated(inner, {"entity:Orders", "entity:OrdersUS"})
    assert strategy.resolve("/api/Orders").placement == Placement(dedicated=True)
    assert strategy.resolve("/api/OrdersUS").placement == Placement(
        region="us", strict=True, dedicated=True
    )
    assert strategy.resolve("/api/Tasks").placement == Placement()
    assert strategy.rooms == frozenset({"entity:Orders", "entity:OrdersUS"})


def test_dedicated_by_predicate() -> None:
    """A predicate on the room name chooses the dedicated rooms."""
    strategy = Dedicated(ByEntity(), is_orders)
    assert strategy.resolve("Orders").placement.dedicated
    assert not strategy.resolve("Tasks").placement.dedicated


def test_dedicated_single_name() -> None:
    """A lone string is one room name, not its characters."""
    strategy = Dedicated(Fixed("global"), "global")
    assert strategy.rooms == frozenset({"global"})
    assert strategy.resolve("c").placement.dedicated


def test_dedicated_checks_names() -> None:
    """Listed names are checked when built."""
    with pytest.raises(InvalidRoomName, match=r"^room name is empty$"):
        Dedicated(ByEntity(), ["entity:A", ""])


def test_dedicated_equality() -> None:
    """Dedicated with equal room sets compare and hash equal."""
    a = Dedicated(ByEntity(), ["entity:A", "entity:B"])
    b = Dedicated(ByEntity(), ("entity:B", "entity:A"))
    assert a == b
    assert hash(a) == hash(b)
