"""A plain websockets broadcast server with rooms: the floor partyray is measured on.

It speaks partyray's frames (``docs/protocol.md``) for what the benchmark uses:
the ``connected`` frame on connect, ``remult:subscribe`` / ``remult:unsubscribe``
acknowledged with a ``connected`` frame, client publish ``data`` frames numbered
per channel with ``seq``, and the raw ``ping``. ``GET /health`` answers 200.

Limits, on purpose: one process, no actors, no partitioning, no history. A
subscribe with ``since`` is acknowledged with ``"recovered": false`` unless
nothing was missed, since there is nothing to replay. Fan-out uses
:func:`websockets.asyncio.server.broadcast`, which writes to every subscriber
without waiting: there is no backpressure, so a slow subscriber's write buffer
grows until the benchmark stops publishing. Any path is accepted.

Run it with ``python -m benchmarks.baselines.plain_server --port 8765``.
"""

from __future__ import annotations

import argparse
import asyncio
import http
import itertools
import signal

import orjson
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

__all__ = ["PlainBroadcaster", "main"]

_SUBSCRIBE = frozenset({"remult:subscribe", "subscribe"})
_UNSUBSCRIBE = frozenset({"remult:unsubscribe", "unsubscribe"})
_PONG = b'{"type":"pong","channel":"system"}'


class PlainBroadcaster:
    """Channel membership and sequence numbers for the connections of one process."""

    def __init__(self) -> None:
        self.subscribers: dict[str, set[ServerConnection]] = {}
        self.seqs: dict[str, int] = {}
        self._ids = itertools.count(1)

    async def handle(self, connection: ServerConnection) -> None:
        """Serve one connection until it closes, then drop its subscriptions."""
        joined: set[str] = set()
        payload = {"clientId": f"c-{next(self._ids)}"}
        hello = {"type": "connected", "channel": "system", "payload": payload}
        try:
            await connection.send(orjson.dumps(hello), text=True)
            async for message in connection:
                await self._on_frame(connection, joined, message)
        except ConnectionClosed:
            pass
        finally:
            for channel in joined:
                members = self.subscribers.get(channel)
                if members is not None:
                    members.discard(connection)
                    if not members:
                        del self.subscribers[channel]

    async def _on_frame(
        self, connection: ServerConnection, joined: set[str], message: str | bytes
    ) -> None:
        if message == "ping":
            await connection.send(_PONG, text=True)
            return
        frame = orjson.loads(message)
        kind = frame.get("type")
        channel = frame.get("channel")
        if not isinstance(channel, str):
            return

        # A publish is numbered and written to every subscriber at once.
        if kind == "data":
            seq = self.seqs.get(channel, 0) + 1
            self.seqs[channel] = seq
            data = frame.get("data", frame.get("payload"))
            out = {"type": "data", "channel": channel, "data": data, "seq": seq}
            members = self.subscribers.get(channel)
            if members:
                broadcast(members, orjson.dumps(out), text=True)
            return

        if kind in _SUBSCRIBE:
            self.subscribers.setdefault(channel, set()).add(connection)
            joined.add(channel)
            seq = self.seqs.get(channel, 0)
            since = frame.get("since")
            recovered = since is None or (isinstance(since, int) and since >= seq)
            payload = {"subscribed": True, "seq": seq, "recovered": recovered}
            ack = {"type": "connected", "channel": channel, "payload": payload}
            await connection.send(orjson.dumps(ack), text=True)
        elif kind in _UNSUBSCRIBE:
            joined.discard(channel)
            self.subscribers.get(channel, set()).discard(connection)


def _health(connection: ServerConnection, request: Request) -> Response | None:
    # Anything that is not a WebSocket upgrade gets a plain HTTP answer.
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return None
    if request.path.startswith("/health"):
        return connection.respond(http.HTTPStatus.OK, '{"status":"ok"}\n')
    return connection.respond(http.HTTPStatus.NOT_FOUND, "not found\n")


async def _serve(host: str, port: int) -> None:
    broadcaster = PlainBroadcaster()
    stop = asyncio.get_running_loop().create_future()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set_result, None)
    async with serve(
        broadcaster.handle,
        host,
        port,
        compression=None,
        process_request=_health,
        max_size=65536,
        ping_interval=None,
        backlog=4096,
    ):
        await stop


def main(argv: list[str] | None = None) -> None:
    """Parse ``--host`` and ``--port`` and serve until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)
    try:
        import uvloop
    except ImportError:
        asyncio.run(_serve(args.host, args.port))
    else:
        uvloop.run(_serve(args.host, args.port))


if __name__ == "__main__":
    main()
