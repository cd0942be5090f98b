"""Numbering and sending one publish through the channel layer."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

__all__ = ["current_seq", "group_for", "publish"]

_SEQS: dict[str, int] = {}


def group_for(channel: str) -> str:
    """A Channels group name for ``channel`` (group names allow few characters)."""
    return "ch." + hashlib.sha1(channel.encode()).hexdigest()


def current_seq(channel: str) -> int:
    """The last sequence number given on ``channel`` in this process."""
    return _SEQS.get(channel, 0)


async def publish(layer: Any, channel: str, data: Any) -> int:
    """Number ``data`` on ``channel`` and ``group_send`` it; return its ``seq``."""
    seq = _SEQS.get(channel, 0) + 1
    _SEQS[channel] = seq
    frame = {"type": "data", "channel": channel, "data": data, "seq": seq}
    text = orjson.dumps(frame).decode()
    await layer.group_send(group_for(channel), {"type": "bench.frame", "text": text})
    return seq
