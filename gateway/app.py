"""The gateway's FastAPI application: WebSocket and HTTP endpoints over a hub."""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect

from partyray.actors import PublishItem
from partyray.partitioning import PartitionError, RoomName, room_name
from partyray.partitioning.errors import PlacementError, RoomUnavailable

from .auth import InvalidToken, TokenVerifier
from .config import GatewayConfig
from .hub import Hub
from .metrics import render_prometheus
from .protocol import CloseCode
from .wire import Wire

__all__ = ["TOKEN_COOKIE", "build_app"]

logger = logging.getLogger("partyray.gateway")

#: The cookie a connection's token may come in.
TOKEN_COOKIE = "partyray_token"

HealthCheck = Callable[[], Awaitable[bool]]


class _BadPublish(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(status, text)
        self.status = status
        self.text = text


def _error(status: int, text: str) -> JSONResponse:
    return JSONResponse({"error": text}, status_code=status)


def _bearer(value: str | None) -> str | None:
    if value and value[:7].lower() == "bearer ":
        return value[7:].strip()
    return None


def build_app(
    hub: Hub,
    config: GatewayConfig,
    *,
    verifier: TokenVerifier | None,
    health: HealthCheck,
    name: str = "0",
) -> ASGIApp:
    """The gateway's ASGI app: every endpoint of ``docs/protocol.md`` over ``hub``."""
    app = FastAPI(title="partyray gateway", docs_url=None, redoc_url=None)
    limits = config.limits
    publish_token = config.publish_token.encode()

    # -- WebSockets ------------------------------------------------------

    async def serve_socket(websocket: WebSocket, receive: Receive) -> None:
        # One coroutine from handshake to close: an idle connection's cost is
        # mostly the frames it waits in, so there are as few as can be.
        # /party/{party}?room=R, /parties/{party}/{room}, /ws
        parts = websocket.url.path.strip("/").split("/")
        connection_id = websocket.query_params.get("_pk")
        room: RoomName | None = None
        if parts != ["ws"]:
            if len(parts) == 2 and parts[0] == "party":
                asked = websocket.query_params.get("room", "")
            elif len(parts) == 3 and parts[0] == "parties":
                asked = parts[2]
            else:
                await websocket.send_denial_response(_error(404, "no such endpoint"))
                return
            try:
                room = room_name(asked)
            except PartitionError as error:
                await websocket.send_denial_response(_error(400, str(error)))
                return

        token = (
            websocket.query_params.get("token")
            or _bearer(websocket.headers.get("authorization"))
            or websocket.cookies.get(TOKEN_COOKIE)
        )
        principal: str | None = None
        if token:
            try:
                if verifier is None:
                    raise InvalidToken("this gateway takes no tokens")
                principal = verifier.verify(token)
            except InvalidToken as error:
                hub.metrics.connections_refused += 1
                await websocket.send_denial_response(_error(401, str(error)))
                return
        if not hub.accepts_more():
            hub.metrics.connections_refused += 1
            await websocket.accept()
            await websocket.close(
                int(CloseCode.TRY_AGAIN_LATER), "gateway is at its connection limit"
            )
            return

        await websocket.accept()
        connection = hub.open(
            Wire(websocket), principal=principal, room=room, connection_id=connection_id
        )
        try:
            while not connection.closed:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:
                    hub.protocol_error(
                        connection, "system", "binary frames are not supported"
                    )
                    continue
                await hub.receive(connection, text)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            hub.close(connection)
            if connection.closing is not None:
                # Let the close frame go before the handler returns.
                await connection.closing

    # -- HTTP publish ----------------------------------------------------

    async def read_items(request: Request) -> list[PublishItem]:
        given = _bearer(request.headers.get("authorization"))
        if given is None or not hmac.compare_digest(given.encode(), publish_token):
            raise _BadPublish(401, "missing or wrong publish token")
        declared = request.headers.get("content-length")
        too_large = f"body exceeds {limits.max_publish_body} bytes"
        if declared and declared.isdigit() and int(declared) > limits.max_publish_body:
            raise _BadPublish(413, too_large)
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > limits.max_publish_body:
                raise _BadPublish(413, too_large)
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise _BadPublish(400, "body is not valid JSON") from None
        return _publish_items(parsed, limits.max_publish_messages)

    async def publish(request: Request, room: RoomName | None) -> Response:
        started = time.perf_counter()
        try:
            items = await read_items(request)
            if room is not None:
                for item in items:
                    if hub.directory.strategy.resolve(item.channel).name != room:
                        raise _BadPublish(
                            400,
                            f"channel {item.channel[:80]!r} is not in room {room!r}",
                        )
            seqs = await hub.directory.publish(items)
        except _BadPublish as bad:
            hub.metrics.http_publish_errors += 1
            return _error(bad.status, bad.text)
        except PartitionError as error:
            hub.metrics.http_publish_errors += 1
            return _error(400, str(error))
        except (RoomUnavailable, PlacementError) as error:
            hub.metrics.http_publish_errors += 1
            return _error(503, str(error))
        hub.metrics.observe_publish(time.perf_counter() - started)
        return Response(orjson.dumps({"seqs": seqs}), media_type="application/json")

    @app.post("/publish")
    async def publish_any(request: Request) -> Response:
        return await publish(request, None)

    @app.post("/parties/{party}/{room}")
    async def publish_room(request: Request, party: str, room: str) -> Response:
        try:
            name = room_name(room)
        except PartitionError as error:
            return _error(400, str(error))
        return await publish(request, name)

    # -- health and metrics ----------------------------------------------

    @app.get("/health")
    async def health_endpoint() -> Response:
        ray_ok = await health()
        body = {
            "status": "ok" if ray_ok else "unavailable",
            "gateway": name,
            "ray": ray_ok,
            "connections": hub.connections,
        }
        return JSONResponse(body, status_code=200 if ray_ok else 503)

    @app.get("/metrics")
    async def metrics_endpoint() -> Response:
        stats = hub.statistics()
        return PlainTextResponse(
            render_prometheus(stats, f'gateway="{name}"'),
            media_type="text/plain; version=0.0.4",
        )

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        # WebSockets are served here, ahead of FastAPI's middleware, so that
        # the socket's send is the server's own and its transport reachable
        # for direct frame writes (see wire.py).
        if scope["type"] == "websocket":
            await serve_socket(WebSocket(scope, receive, send), receive)
        else:
            await app(scope, receive, send)

    return asgi


def _publish_items(parsed: Any, max_messages: int) -> list[PublishItem]:
    """The messages of a publish body, or a 400/413 naming what is wrong."""
    if not isinstance(parsed, dict):
        raise _BadPublish(400, "body must be a JSON object")
    if "messages" in parsed:
        raw = parsed["messages"]
        if not isinstance(raw, list) or not raw:
            raise _BadPublish(400, "messages must be a non-empty list")
        if len(raw) > max_messages:
            raise _BadPublish(413, f"more than {max_messages} messages in one publish")
    elif "channel" in parsed:
        raw = [parsed]
    else:
        raise _BadPublish(400, "body needs channel and data, or messages")
    items = []
    for index, message in enumerate(raw):
        where = f"messages[{index}]" if "messages" in parsed else "body"
        if not isinstance(message, dict):
            raise _BadPublish(400, f"{where} must be an object")
        channel = message.get("channel")
        if not isinstance(channel, str) or not channel:
            raise _BadPublish(400, f"{where}.channel must be a non-empty string")
        if "data" not in message:
            raise _BadPublish(400, f"{where}.data is missing")
        message_id = message.get("id")
        if message_id is not None and not isinstance(message_id, str):
            raise _BadPublish(400, f"{where}.id must be a string")
        items.append(PublishItem(channel, message["data"], message_id))
    return items
