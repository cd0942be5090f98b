"""The cheapest write path to a client socket: whole frames, encoded once.

A message delivered to a gateway is sent to every local subscriber of its
channel. Encoding it once into a complete WebSocket frame (header and text
payload, unmasked as a server's frames are, no extension) and handing the same
bytes to each socket's transport costs one ``write`` per socket, with no
per-socket framing, no per-socket task and no per-socket queue of Python
objects.

The bound on what waits for a slow socket is its transport's write buffer:
:class:`Wire` reports the buffered byte count and the hub closes a socket that
lets it grow past ``Limits.outbound_bytes`` (1013, try again later).

:class:`Wire` needs uvicorn's ``websockets-sansio`` protocol, which the
gateway configures, without per-message compression, so that frames written
here are exactly what the protocol itself would write. It reaches into that
protocol (its transport, its sans-I/O connection, its close state and its
receive queue); ``tests/gateway`` pin the behaviour against the uvicorn
release installed.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

from starlette.websockets import WebSocket

__all__ = ["Wire", "WireUnavailable", "text_frame"]

_TEXT = 0x81  # FIN, opcode 1 (text)


def text_frame(payload: bytes) -> bytes:
    """One complete, final, unmasked text frame carrying ``payload``."""
    length = len(payload)
    if length < 126:
        return bytes((_TEXT, length)) + payload
    if length < 65_536:
        return struct.pack("!BBH", _TEXT, 126, length) + payload
    return struct.pack("!BBQ", _TEXT, 127, length) + payload


class WireUnavailable(RuntimeError):
    """The ASGI server under the socket is not one whose transport we can reach."""


class Wire:
    """Direct frame writes to one accepted WebSocket, under uvicorn.

    ``write`` never blocks: bytes the peer has not taken wait in the
    transport's buffer, whose size ``buffered`` reports.
    """

    __slots__ = ("_protocol", "_transport", "_websocket")

    def __init__(self, websocket: WebSocket) -> None:
        protocol: Any = getattr(websocket._send, "__self__", None)
        transport = getattr(protocol, "transport", None)
        if transport is None or not hasattr(protocol, "conn"):
            raise WireUnavailable("the ASGI server gives no access to its transport")
        self._websocket = websocket
        self._protocol = protocol
        self._transport: asyncio.Transport = transport
        self._shed(websocket, protocol)

    @staticmethod
    def _shed(websocket: WebSocket, protocol: Any) -> None:
        # Once accepted, a socket needs neither the handshake request nor its
        # response, nor the request headers (the token was read before): each
        # is a few kilobytes of small objects per idle connection.
        request = getattr(protocol, "request", None)
        headers: Any = getattr(request, "headers", None)
        if headers is not None and hasattr(headers, "clear"):
            # websockets' parser generator keeps the request in its frame
            # for the socket's whole life: empty its headers in place.
            headers.clear()
        for name in ("request", "response"):
            if hasattr(protocol, name):
                setattr(protocol, name, None)
        websocket.scope["headers"] = []
        websocket.__dict__.pop("_headers", None)

    def send(self, frame: bytes) -> int:
        """Write one complete frame unless the socket is gone.

        Returns the bytes then waiting in the transport (written but not yet
        taken by the peer), or -1 when the transport is closing (nothing was
        written): one call per delivered frame.
        """
        transport = self._transport
        if transport.is_closing():
            return -1
        transport.write(frame)
        return transport.get_write_buffer_size()

    async def close(self, code: int, reason: str, timeout: float = 5.0) -> None:
        """Queue a close frame behind what is buffered; abort if it is not answered.

        The close frame is written at once, whatever the backlog, so that even
        a consumer that stopped reading finds it when it reads again. The peer
        has ``timeout`` seconds to answer it before the transport is aborted.
        """
        protocol = self._protocol
        transport = self._transport
        if protocol.close_sent or transport.is_closing():
            return
        protocol.conn.send_close(code, reason)
        transport.write(b"".join(protocol.conn.data_to_send()))
        protocol.close_sent = True
        # The application side learns of the close the way the server would
        # tell it, and the peer's answer must be read to finish the handshake.
        protocol.queue.put_nowait(
            {"type": "websocket.disconnect", "code": code, "reason": reason}
        )
        if protocol.read_paused:
            protocol.read_paused = False
            transport.resume_reading()
        loop = asyncio.get_running_loop()
        protocol.close_timer = loop.call_later(timeout, transport.abort)
