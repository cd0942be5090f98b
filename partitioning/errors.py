"""The exceptions partyray raises, rooted at :class:`PartyrayError`.

The tree::

    PartyrayError
    ├── PartitionError            a channel or room name that cannot be used
    │   ├── InvalidRoomName       the name breaks the room-name rules
    │   ├── UnresolvableChannel   no strategy maps the channel to a room
    │   └── InvalidSpec           a partition spec text cannot be parsed
    ├── SubscriptionRefused       the room's subscription check said no
    ├── PlacementError            no node can host the room as placed
    ├── RoomUnavailable           the room (or its shard) cannot be reached
    └── PublishError              a publish failed after its retries

Every exception keeps its constructor arguments in ``args`` so that it survives
pickling across a Ray actor boundary unchanged.
"""

from __future__ import annotations

__all__ = [
    "InvalidRoomName",
    "InvalidSpec",
    "PartitionError",
    "PartyrayError",
    "PlacementError",
    "PublishError",
    "RoomUnavailable",
    "SubscriptionRefused",
    "UnresolvableChannel",
]


class PartyrayError(Exception):
    """The root of every error partyray raises on purpose."""


class PartitionError(PartyrayError, ValueError):
    """A channel or a room name cannot be used."""


class InvalidRoomName(PartitionError):
    """A room name is empty, too long or has a character outside the allowed set."""


class UnresolvableChannel(PartitionError):
    """No partition strategy maps the channel to a room."""


class InvalidSpec(PartitionError):
    """A partition spec text names an unknown term or gives a bad argument."""


class SubscriptionRefused(PartyrayError):
    """The room's subscription check refused a subscription.

    ``code`` is the wire error code (``forbidden`` unless the check says
    otherwise) and ``reason`` a short lowercase text for the client.
    """

    def __init__(self, reason: str, code: str = "forbidden") -> None:
        super().__init__(reason, code)
        self.reason = reason
        self.code = code

    def __str__(self) -> str:
        return self.reason


class PlacementError(PartyrayError):
    """No node of the cluster can host a room where its placement asks."""


class RoomUnavailable(PartyrayError):
    """A room, or the shard that hosts it, could not be reached in time."""


class PublishError(PartyrayError):
    """A publish did not reach its room after every retry."""
