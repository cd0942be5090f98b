"""RoomDirectory.resolve: remembered answers, bounded, and never a wrong one."""

from __future__ import annotations

import pytest

from partyray.actors import DirectoryConfig, RoomDirectory
from partyray.actors import directory as directory_module
from partyray.partitioning import RemultPartykit
from partyray.partitioning.errors import PartitionError


def test_resolve_remembers_a_bounded_number_of_channels(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(directory_module, "_RESOLVED_KEPT", 40)
    directory = RoomDirectory(RemultPartykit(), DirectoryConfig(shards=3))
    fresh = RoomDirectory(RemultPartykit(), DirectoryConfig(shards=3))
    for k in range(500):
        channel = f"chat?roomId=r{k % 120}"
        address, ref = directory.resolve(channel)
        assert address == RemultPartykit().resolve(channel)
        assert ref == fresh.locate(address)
        assert len(directory._resolved) <= 40


def test_a_channel_with_no_room_is_not_remembered() -> None:
    directory = RoomDirectory(RemultPartykit(), DirectoryConfig())
    for _ in range(2):
        with pytest.raises(PartitionError):
            directory.resolve("chat?roomId=bad name!")
    assert directory._resolved == {}
