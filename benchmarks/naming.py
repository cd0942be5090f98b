"""Channel names the benchmark subscribes to, matching partyray's ``remult`` spec.

``bench?roomId=r<k>`` is resolved by the default partition spec to the room
``room:r<k>``; ``users:u<k>:queries:<uuid>`` is a Remult live query of one
user. The uuids are drawn from a seeded generator so runs are repeatable.
"""

from __future__ import annotations

import random
import uuid

__all__ = ["room_channel", "user_channels"]


def room_channel(k: int) -> str:
    """The channel of benchmark room ``k``."""
    return f"bench?roomId=r{k}"


def user_channels(count: int, seed: int = 7) -> list[str]:
    """``count`` per-user live-query channels, one per user."""
    rng = random.Random(seed)
    return [
        f"users:u{k}:queries:{uuid.UUID(int=rng.getrandbits(128), version=4)}"
        for k in range(count)
    ]
