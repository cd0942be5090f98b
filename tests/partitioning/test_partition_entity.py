"""ByEntity: one room per entity, named by the channel's last path segment."""

from __future__ import annotations

import pytest

from partyray.partitioning import ByEntity, InvalidRoomName


def room(strategy: ByEntity, channel: str) -> str | None:
    address = strategy.match(channel)
    return None if address is None else address.name


@pytest.mark.parametrize(
    "channel",
    [
        "/api/Tasks?x=1",
        "/api/Tasks",
        "Tasks",
        "Tasks?x=1",
        "api/Tasks",
        "Tasks?",
        "/Tasks",
        "//Tasks",
        "/api/Tasks?path=/a/b",
        "/api/Tasks?x=1?y=2",
    ],
)
def test_entity_rooms(channel: str) -> None:
    """The last path segment before the query names the room."""
    assert room(ByEntity(), channel) == "entity:Tasks"


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        ("_private", "entity:_private"),
        ("Task_2", "entity:Task_2"),
        ("/a/b/c", "entity:c"),
        ("x", "entity:x"),
    ],
)
def test_identifier_entities(channel: str, expected: str) -> None:
    """Any ASCII identifier is an entity."""
    assert room(ByEntity(), channel) == expected


@pytest.mark.parametrize(
    "channel",
    [
        "",
        "?",
        "?x=1",
        "/",
        "/api/",
        "/api/Tasks/",
        "2Tasks",
        "Task-s",
        "Tasks.json",
        "Tâches",
        "Ta sks",
        "users:u1:queries:q1",
        "users:undefined:queries:q1",
        "users::queries:q1",
        "users:u1:queries:q1/Tasks",
        "a:b",
    ],
)
def test_no_match(channel: str) -> None:
    """Channels without an identifier entity, and live queries, are not matched."""
    assert ByEntity().match(channel) is None


def test_prefix() -> None:
    """The prefix leads the room name, and may be empty."""
    assert room(ByEntity("e."), "/api/Tasks") == "e.Tasks"
    assert room(ByEntity(""), "/api/Tasks") == "Tasks"


def test_long_entity_raises() -> None:
    """An entity too long for a room name raises instead of being dropped."""
    with pytest.raises(InvalidRoomName, match=r"^room name exceeds 200 characters"):
        ByEntity().match("/api/" + "T" * 194)
    assert room(ByEntity(), "T" * 193) == "entity:" + "T" * 193


def test_bad_prefix() -> None:
    """A prefix outside the room-name characters fails when built."""
    with pytest.raises(InvalidRoomName) as raised:
        ByEntity("entity/")
    assert str(raised.value) == (
        "room prefix 'entity/' has a character outside letters, digits and '_-.:@+=~'"
    )
