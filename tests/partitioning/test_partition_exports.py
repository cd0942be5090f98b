"""The public surface of partyray.partitioning."""

from __future__ import annotations

import pickle

import partyray.partitioning as partitioning

PUBLIC = {
    "ANYWHERE",
    "MAX_ANONYMOUS_ROOMS",
    "MAX_ROOM_NAME_LENGTH",
    "ROOM_NAME_CHARACTERS",
    "BaseStrategy",
    "ByEntity",
    "ByQueryParameter",
    "ByUser",
    "Dedicated",
    "FirstMatch",
    "Fixed",
    "InvalidRoomName",
    "InvalidSpec",
    "PartitionError",
    "PartitionStrategy",
    "Placement",
    "RemultPartykit",
    "RoomAddress",
    "RoomName",
    "UnresolvableChannel",
    "WithPlacement",
    "WithRegion",
    "describe",
    "parse_spec",
    "resolve_or_raise",
    "room_name",
}


def test_all_is_the_public_surface() -> None:
    """__all__ lists exactly the intended names, once each."""
    assert set(partitioning.__all__) == PUBLIC
    assert len(partitioning.__all__) == len(PUBLIC)


def test_every_name_exists() -> None:
    """Every name in __all__ is importable from the package."""
    for name in partitioning.__all__:
        assert hasattr(partitioning, name), name


def test_strategies_satisfy_the_protocol() -> None:
    """The built-in strategies are PartitionStrategy instances."""
    for strategy in (
        partitioning.ByQueryParameter(),
        partitioning.ByEntity(),
        partitioning.ByUser(),
        partitioning.RemultPartykit(),
        partitioning.Fixed("global"),
    ):
        assert isinstance(strategy, partitioning.PartitionStrategy)


def test_errors_share_the_root() -> None:
    """Every partition error is a PartitionError and a ValueError."""
    for error in (
        partitioning.InvalidRoomName,
        partitioning.InvalidSpec,
        partitioning.UnresolvableChannel,
    ):
        assert issubclass(error, partitioning.PartitionError)
        assert issubclass(error, ValueError)


def test_errors_pickle() -> None:
    """A partition error crosses an actor boundary unchanged."""
    error = partitioning.InvalidSpec("unknown partition term 'x'")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is partitioning.InvalidSpec
    assert str(copy) == str(error)
