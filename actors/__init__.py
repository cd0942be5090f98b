"""Rooms: plain room logic and the Ray actors that host it.

Vocabulary, used the same way everywhere in partyray:

room
    The unit of state and fan-out: the subscribers, numbering and history of
    a set of channels. Got or created by name.
channel
    A string that clients subscribe to and publishers publish on. A partition
    strategy maps each channel to one room.
subscriber
    What a room delivers to: a gateway, never a single socket.
connection
    One client socket, held by a gateway.
host
    The Ray actor a room lives in: a shard of the shared pool, or a dedicated
    actor for one room.
"""

from .checks import SubscriptionCheck, allow_all, channel_owner, users_own_channels
from .directory import (
    DEFAULT_NAMESPACE,
    DirectoryConfig,
    HostRef,
    PublishItem,
    RoomDirectory,
    shard_for,
)
from .host import HostStatistics, RoomHost, RoomHostCore
from .outbox import DEFAULT_OUTBOX_LIMIT, Delivery, Outbox
from .room import (
    Message,
    PublishOutcome,
    Room,
    RoomConfig,
    RoomStatistics,
    SubscribeResult,
    SubscriberId,
    encode_data_frame,
)

__all__ = [
    "DEFAULT_NAMESPACE",
    "DEFAULT_OUTBOX_LIMIT",
    "Delivery",
    "DirectoryConfig",
    "HostRef",
    "HostStatistics",
    "Message",
    "Outbox",
    "PublishItem",
    "PublishOutcome",
    "Room",
    "RoomConfig",
    "RoomDirectory",
    "RoomHost",
    "RoomHostCore",
    "RoomStatistics",
    "SubscribeResult",
    "SubscriberId",
    "SubscriptionCheck",
    "allow_all",
    "channel_owner",
    "encode_data_frame",
    "shard_for",
    "users_own_channels",
]
