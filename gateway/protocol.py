"""The wire protocol: parsing client frames and building server frames.

Sans-I/O: nothing here touches a socket. See ``docs/protocol.md`` for the
frames themselves.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = [
    "SYSTEM",
    "BadFrame",
    "ClientPublish",
    "CloseCode",
    "ErrorCode",
    "Ping",
    "Signal",
    "Subscribe",
    "Unsubscribe",
    "ack_frame",
    "error_frame",
    "hello_frame",
    "parse_client_frame",
    "pong_frame",
    "signal_frame",
]

#: The channel of frames about the connection itself.
SYSTEM = "system"


class CloseCode(enum.IntEnum):
    """The WebSocket close codes the gateway uses."""

    NORMAL = 1000
    GOING_AWAY = 1001
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    TRY_AGAIN_LATER = 1013


class ErrorCode(str, enum.Enum):
    """The ``code`` of an error frame."""

    BAD_REQUEST = "bad_request"
    TOO_LARGE = "too_large"
    FORBIDDEN = "forbidden"
    WRONG_ROOM = "wrong_room"
    UNKNOWN_CHANNEL = "unknown_channel"
    OVERLOADED = "overloaded"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class Subscribe:
    channel: str
    since: int | None = None
    epoch: str | None = None


@dataclass(frozen=True)
class Unsubscribe:
    channel: str


@dataclass(frozen=True)
class ClientPublish:
    channel: str
    data: Any


@dataclass(frozen=True)
class Signal:
    target: str
    data: Any


@dataclass(frozen=True)
class Ping:
    pass


Command = Subscribe | Unsubscribe | ClientPublish | Signal | Ping


class BadFrame(Exception):
    """A client frame that breaks the protocol; ``channel`` is where to answer."""

    def __init__(self, message: str, channel: str = SYSTEM) -> None:
        super().__init__(message, channel)
        self.message = message
        self.channel = channel


def _channel(frame: dict[str, Any], max_channel: int) -> str:
    channel = frame.get("channel")
    if not isinstance(channel, str) or not channel:
        raise BadFrame("frame needs a non-empty string channel")
    if len(channel) > max_channel:
        raise BadFrame(f"channel exceeds {max_channel} characters")
    return channel


def parse_client_frame(text: str, *, max_channel: int = 1024) -> Command:
    """The command a client text frame carries, or :class:`BadFrame`."""
    if text == "ping":
        return Ping()
    try:
        frame = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise BadFrame("frame is not valid JSON") from None
    if not isinstance(frame, dict):
        raise BadFrame("frame is not a JSON object")
    kind = frame.get("type")
    if kind in ("remult:subscribe", "subscribe"):
        channel = _channel(frame, max_channel)
        since = frame.get("since")
        if since is not None and (
            not isinstance(since, int) or isinstance(since, bool) or since < 0
        ):
            raise BadFrame("since must be a non-negative integer", channel)
        epoch = frame.get("epoch")
        if epoch is not None and not isinstance(epoch, str):
            raise BadFrame("epoch must be a string", channel)
        return Subscribe(channel, since, epoch)
    if kind in ("remult:unsubscribe", "unsubscribe"):
        return Unsubscribe(_channel(frame, max_channel))
    if kind == "data":
        channel = _channel(frame, max_channel)
        data = frame["data"] if "data" in frame else frame.get("payload")
        return ClientPublish(channel, data)
    if kind == "signal":
        target = frame.get("id")
        if not isinstance(target, str) or not target:
            raise BadFrame("signal needs a string id")
        return Signal(target, frame.get("data", frame.get("payload")))
    if kind == "ping":
        return Ping()
    raise BadFrame(f"unknown frame type {str(kind)[:40]!r}")


def _dump(frame: dict[str, Any]) -> str:
    return orjson.dumps(frame).decode()


def hello_frame(client_id: str) -> str:
    """The frame every connection gets first."""
    return _dump(
        {"type": "connected", "channel": SYSTEM, "payload": {"clientId": client_id}}
    )


def ack_frame(channel: str, seq: int, recovered: bool, epoch: str) -> str:
    """The acknowledgement of a registered subscription."""
    payload = {"subscribed": True, "seq": seq, "recovered": recovered, "epoch": epoch}
    return _dump({"type": "connected", "channel": channel, "payload": payload})


def error_frame(channel: str, code: ErrorCode, text: str) -> str:
    """An error about ``channel`` (``system`` for the connection itself)."""
    return _dump(
        {"type": "error", "channel": channel, "error": text, "code": code.value}
    )


def pong_frame() -> str:
    """The answer to ``ping``."""
    return _dump({"type": "pong", "channel": SYSTEM})


def signal_frame(sender: str, data: Any) -> str:
    """A signal from connection ``sender``."""
    return _dump({"type": "signal", "channel": SYSTEM, "from": sender, "data": data})
