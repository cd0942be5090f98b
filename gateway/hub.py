"""The hub: a gateway's connections, their subscriptions, and the fan-out to them.

The hub is the gateway's logic without HTTP: it takes client frames from
connections, turns subscriptions into room calls through the directory, and
writes each message a room delivers to every local connection subscribed to
its channel. Rooms see the gateway as one subscriber; the hub counts its
connections for them.

Ordering. A connection's subscription is acknowledged only after its room has
registered it. Messages that arrive while the registration is in flight wait
(bounded) and follow the acknowledgement and any recovered history, so that a
connection sees each channel's messages in order with no gap and no repeat.

Gaps and restarts. The hub tracks the latest sequence number it received on
each channel. A gap (a delivery lost to a full outbox, say) is filled from the
room's history; when the history no longer reaches back, each affected
connection is sent a fresh acknowledgement with ``"recovered": false``. A room
host that restarted is noticed by its new incarnation (checked every
``watch_interval``); the hub registers its subscriptions again and tells the
affected connections the same way. Nothing is ever skipped silently.

Slow consumers. Each connection has a bounded outbound queue; a connection
whose queue is full is closed with 1013 and counted, and never holds up the
others.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol

from partyray.actors import Delivery, HostRef, PublishItem, RoomDirectory
from partyray.partitioning import PartitionError, RoomName
from partyray.partitioning.errors import (
    PlacementError,
    RoomUnavailable,
    SubscriptionRefused,
)

from .config import Limits
from .metrics import GatewayMetrics, GatewayStatistics
from .protocol import (
    SYSTEM,
    BadFrame,
    ClientPublish,
    CloseCode,
    ErrorCode,
    Ping,
    Signal,
    Subscribe,
    Unsubscribe,
    ack_frame,
    error_frame,
    hello_frame,
    parse_client_frame,
    pong_frame,
    signal_frame,
)
from .wire import text_frame

__all__ = ["Connection", "Hub", "Socket"]

logger = logging.getLogger("partyray.gateway")


class Socket(Protocol):
    """What the hub needs of a client socket (a :class:`~.wire.Wire`)."""

    def send(self, frame: bytes) -> int: ...

    async def close(self, code: int, reason: str, timeout: float = 5.0) -> None: ...


@dataclass(slots=True)
class _Subscription:
    """One connection's subscription to one channel."""

    last_seq: int = 0
    # Deliveries held back until the room's acknowledgement; None once acked.
    pending: list[Delivery] | None = None
    incarnation: str = ""


class Connection:
    """One client socket and what it subscribed to.

    Frames go straight to the socket's transport. When more than
    ``outbound_bytes`` wait there (a consumer that stopped reading), the
    connection is closed with 1013 and counted; it never holds up others.
    """

    __slots__ = (
        "_limit",
        "closed",
        "closing",
        "hub",
        "id",
        "principal",
        "protocol_errors",
        "room",
        "socket",
        "subscriptions",
    )

    def __init__(
        self,
        hub: Hub,
        socket: Socket,
        connection_id: str,
        principal: str | None,
        room: RoomName | None,
        outbound_bytes: int,
    ) -> None:
        self.hub = hub
        self.socket = socket
        self.id = connection_id
        self.principal = principal
        self.room = room
        self.subscriptions: dict[str, _Subscription] = {}
        self.protocol_errors = 0
        self.closed = False
        # The task closing the socket, once a close was decided here.
        self.closing: asyncio.Task[None] | None = None
        self._limit = outbound_bytes

    def send(self, frame: str) -> None:
        """Send one protocol frame given as text."""
        self.send_frame(text_frame(frame.encode()))

    def send_frame(self, frame: bytes) -> None:
        """Send one encoded WebSocket frame; too much backlog closes with 1013."""
        if self.closed:
            return
        waiting = self.socket.send(frame)
        if waiting < 0:
            self.closed = True
            return
        self.hub.metrics.frames_out += 1
        if waiting > self._limit:
            self.hub.metrics.slow_consumer_closes += 1
            logger.warning(
                "connection %s is too slow (%d bytes waiting): closing with 1013",
                self.id,
                waiting,
            )
            self.close_soon(CloseCode.TRY_AGAIN_LATER, "too slow: outbound buffer full")

    def close_soon(self, code: CloseCode, reason: str) -> None:
        """Stop sending and close the socket with ``code`` in the background.

        Frames already written (an error frame explaining the close, say) go
        out before the close frame.
        """
        if self.closed:
            return
        self.closed = True
        self.closing = asyncio.get_running_loop().create_task(self._close(code, reason))

    async def _close(self, code: CloseCode, reason: str) -> None:
        try:
            await self.socket.close(int(code), reason)
        except Exception:
            logger.debug("close of %s failed", self.id, exc_info=True)

    def stop(self) -> None:
        """Send nothing more: the socket is gone or being closed."""
        self.closed = True


class _Channel:
    """The gateway's view of one channel: its local connections and numbering."""

    __slots__ = ("connections", "epoch", "last", "recovering", "ref")

    def __init__(self, ref: HostRef) -> None:
        self.ref = ref
        self.connections: dict[str, Connection] = {}
        # The highest seq received from the room; None until the first ack.
        self.last: int | None = None
        self.epoch: str | None = None
        # Deliveries held while a gap or a restart is being mended.
        self.recovering: list[Delivery] | None = None


class Hub:
    """A gateway's connections and channels. One per gateway process.

    ``subscriber`` is the gateway's id in the rooms' tables and ``handle`` what
    rooms call ``deliver`` on (the gateway actor's handle).
    """

    def __init__(
        self,
        directory: RoomDirectory,
        *,
        subscriber: str,
        handle: Any,
        limits: Limits | None = None,
        allow_client_publish: bool = False,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self.directory = directory
        self.subscriber = subscriber
        self.handle = handle
        self.limits = limits or Limits()
        self.allow_client_publish = allow_client_publish
        self.metrics = metrics or GatewayMetrics()
        self._connections: dict[str, Connection] = {}
        self._channels: dict[str, _Channel] = {}
        self._incarnations: dict[str, str] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- life ------------------------------------------------------------

    def spawn(self, coroutine: Awaitable[Any]) -> None:
        """Run ``coroutine`` in the background, keeping a reference to it."""
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("background task failed", exc_info=task.exception())

    @property
    def connections(self) -> int:
        return len(self._connections)

    def statistics(self) -> GatewayStatistics:
        """A snapshot of the counters, the open connections and the links."""
        return self.metrics.snapshot(
            len(self._connections),
            self.directory.open_links,
            self.directory.link_deliveries,
        )

    def connection(self, connection_id: str) -> Connection | None:
        return self._connections.get(connection_id)

    def accepts_more(self) -> bool:
        """Whether one more connection fits under the per-gateway limit."""
        return len(self._connections) < self.limits.connections_per_gateway

    def open(
        self,
        socket: Socket,
        *,
        principal: str | None,
        room: RoomName | None,
        connection_id: str | None = None,
    ) -> Connection:
        """Register a new connection and greet it."""
        cid = connection_id or f"c-{uuid.uuid4().hex[:16]}"
        existing = self._connections.get(cid)
        if existing is not None:
            # One id, one connection: the newer socket takes the id over.
            logger.info("connection id %s reused: closing the older socket", cid)
            self.close(existing)
            existing.close_soon(CloseCode.POLICY_VIOLATION, "connection id reused")
        connection = Connection(
            self, socket, cid, principal, room, self.limits.outbound_bytes
        )
        self._connections[cid] = connection
        self.metrics.connections_opened += 1
        connection.send(hello_frame(cid))
        return connection

    def close(self, connection: Connection) -> None:
        """Forget a connection that went away, and its subscriptions."""
        if self._connections.get(connection.id) is connection:
            del self._connections[connection.id]
            self.metrics.connections_closed += 1
        connection.stop()
        for channel in list(connection.subscriptions):
            self._drop_subscription(connection, channel)

    async def shutdown(self) -> None:
        """Close every connection with 1001 and leave every room."""
        for connection in list(self._connections.values()):
            connection.close_soon(CloseCode.GOING_AWAY, "gateway shutting down")
            self.close(connection)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5.0)

    # -- client frames ---------------------------------------------------

    async def receive(self, connection: Connection, text: str) -> None:
        """Handle one text frame from ``connection``."""
        self.metrics.frames_in += 1
        try:
            command = parse_client_frame(text, max_channel=self.limits.max_channel)
        except BadFrame as bad:
            self.protocol_error(connection, bad.channel, bad.message)
            return
        if isinstance(command, Ping):
            connection.send(pong_frame())
        elif isinstance(command, Subscribe):
            await self.subscribe(connection, command)
        elif isinstance(command, Unsubscribe):
            self.unsubscribe(connection, command.channel)
        elif isinstance(command, ClientPublish):
            # Not awaited: publishes from a connection queue up behind each
            # other in the directory (in order) and leave for their host
            # together, instead of one round trip each.
            self.client_publish(connection, command)
        else:
            self.signal(connection, command)

    def protocol_error(
        self,
        connection: Connection,
        channel: str,
        text: str,
        code: ErrorCode = ErrorCode.BAD_REQUEST,
    ) -> None:
        """Answer a broken frame; too many of them close the connection (1008)."""
        self.metrics.protocol_errors += 1
        connection.protocol_errors += 1
        connection.send(error_frame(channel, code, text))
        if connection.protocol_errors >= self.limits.protocol_errors:
            logger.info("connection %s: too many protocol errors", connection.id)
            connection.close_soon(
                CloseCode.POLICY_VIOLATION, "too many protocol errors"
            )

    def _route(self, connection: Connection, channel: str) -> HostRef:
        """The host of ``channel``'s room for ``connection``, or a refusal."""
        try:
            address, ref = self.directory.resolve(channel)
        except PartitionError as error:
            raise _Refusal(ErrorCode.UNKNOWN_CHANNEL, _reason(error)) from None
        if connection.room is not None and address.name != connection.room:
            raise _Refusal(
                ErrorCode.WRONG_ROOM,
                f"channel belongs to room {address.name!r}, not {connection.room!r}",
            )
        return ref

    async def subscribe(self, connection: Connection, command: Subscribe) -> None:
        """Register a subscription with its room, then acknowledge it."""
        channel = command.channel
        try:
            ref = self._route(connection, channel)
            if (
                channel not in connection.subscriptions
                and len(connection.subscriptions)
                >= self.limits.subscriptions_per_connection
            ):
                raise _Refusal(
                    ErrorCode.OVERLOADED,
                    f"connection has {self.limits.subscriptions_per_connection} "
                    "subscriptions already",
                )
        except _Refusal as refusal:
            self.metrics.subscriptions_refused += 1
            connection.send(error_frame(channel, refusal.code, refusal.text))
            return

        # Hold deliveries for this connection until the room answers.
        state = self._channels.get(channel)
        if state is None:
            state = self._channels[channel] = _Channel(ref)
        again = connection.subscriptions.get(channel)
        subscription = _Subscription(pending=[])
        connection.subscriptions[channel] = subscription
        state.connections[connection.id] = connection

        try:
            _, incarnation, result = await self.directory.subscribe(
                channel,
                self.subscriber,
                self.handle,
                connection.principal,
                command.since,
                command.epoch,
            )
        except (SubscriptionRefused, RoomUnavailable, PlacementError) as error:
            if again is not None:
                # A repeated subscribe that failed leaves the first one as it was.
                connection.subscriptions[channel] = again
            else:
                self._forget(connection, channel)
            self.metrics.subscriptions_refused += 1
            code = (
                ErrorCode.FORBIDDEN
                if isinstance(error, SubscriptionRefused)
                else ErrorCode.UNAVAILABLE
            )
            connection.send(error_frame(channel, code, _reason(error)))
            return
        if again is not None:
            # The room counted this connection twice; keep its count right.
            self.spawn(self._leave_room(channel, 1))
        if connection.subscriptions.get(channel) is not subscription:
            # Unsubscribed (or closed) while the room was answering.
            self.spawn(self._leave_room(channel, 1))
            return

        self._note_incarnation(ref, incarnation)
        subscription.incarnation = incarnation
        if state.last is None or state.epoch != result.epoch:
            state.last = result.seq
            state.epoch = result.epoch
        if again is None:
            self.metrics.subscriptions += 1

        # Acknowledge, then what was missed, then what arrived meanwhile.
        connection.send(ack_frame(channel, result.seq, result.recovered, result.epoch))
        for message in result.missed:
            connection.send(message.frame)
        subscription.last_seq = result.seq
        held = subscription.pending or []
        subscription.pending = None
        for _, seq, frame in held:
            if seq > subscription.last_seq:
                connection.send(frame)
                subscription.last_seq = seq

    def unsubscribe(self, connection: Connection, channel: str) -> None:
        """Drop a subscription; unknown channels are ignored."""
        if channel in connection.subscriptions:
            self._drop_subscription(connection, channel)

    def _drop_subscription(self, connection: Connection, channel: str) -> None:
        subscription = connection.subscriptions.get(channel)
        self._forget(connection, channel)
        if subscription is not None and subscription.pending is None:
            self.metrics.subscriptions -= 1
            self.spawn(self._leave_room(channel, 1))

    def _forget(self, connection: Connection, channel: str) -> None:
        connection.subscriptions.pop(channel, None)
        state = self._channels.get(channel)
        if state is not None:
            state.connections.pop(connection.id, None)
            if not state.connections:
                del self._channels[channel]

    async def _leave_room(self, channel: str, connections: int) -> None:
        try:
            await self.directory.unsubscribe(channel, self.subscriber, connections)
        except (RoomUnavailable, PlacementError, PartitionError) as error:
            # A room that is gone has forgotten us already.
            logger.debug("unsubscribe of %s failed: %s", channel, error)

    def client_publish(self, connection: Connection, command: ClientPublish) -> None:
        """Publish from a client, when the rooms allow it.

        Not a coroutine: the request joins its host's next batch at once (so
        publishes from a connection keep their order) and the answer comes
        back to a callback, with no task per message.
        """
        channel = command.channel
        if not self.allow_client_publish:
            self.metrics.subscriptions_refused += 1
            connection.send(
                error_frame(
                    channel, ErrorCode.FORBIDDEN, "client publish is not allowed"
                )
            )
            return
        try:
            self._route(connection, channel)
            answer = self.directory.publish_soon(
                [PublishItem(channel, command.data)], from_client=True
            )
        except _Refusal as refusal:
            connection.send(error_frame(channel, refusal.code, refusal.text))
            return
        except (RoomUnavailable, PlacementError) as error:
            self._client_publish_failed(connection, channel, error)
            return
        answer.add_done_callback(
            lambda done: self._client_published(connection, channel, done)
        )

    def _client_published(
        self, connection: Connection, channel: str, answer: asyncio.Future[list[int]]
    ) -> None:
        if answer.cancelled():
            return
        error = answer.exception()
        if error is None:
            self.metrics.client_publishes += 1
        else:
            self._client_publish_failed(connection, channel, error)

    def _client_publish_failed(
        self, connection: Connection, channel: str, error: BaseException
    ) -> None:
        """Tell the publishing connection why, whether the room said so at once
        or answered later."""
        if isinstance(error, SubscriptionRefused):
            code, text = ErrorCode.FORBIDDEN, _reason(error)
        elif isinstance(error, (RoomUnavailable, PlacementError)):
            code, text = ErrorCode.UNAVAILABLE, _reason(error)
        else:
            logger.error("client publish on %s failed", channel, exc_info=error)
            code, text = ErrorCode.UNAVAILABLE, "the publish failed"
        connection.send(error_frame(channel, code, text))

    def signal(self, connection: Connection, command: Signal) -> None:
        """Pass a signal to another connection of the same room on this gateway."""
        if not self.allow_client_publish:
            connection.send(
                error_frame(SYSTEM, ErrorCode.FORBIDDEN, "signals are not allowed")
            )
            return
        target = self._connections.get(command.target)
        if target is None or target.room != connection.room or target.room is None:
            connection.send(
                error_frame(
                    SYSTEM,
                    ErrorCode.UNAVAILABLE,
                    f"no connection {command.target[:40]!r} in this room here",
                )
            )
            return
        target.send(signal_frame(connection.id, command.data))

    # -- deliveries ------------------------------------------------------

    def deliver(self, host: str, incarnation: str, batch: list[Delivery]) -> None:
        """Write each delivered message to the local connections of its channel."""
        self.metrics.delivery_batches += 1
        self.metrics.deliveries_in += len(batch)
        known = self._incarnations.get(host)
        if known is not None and known != incarnation:
            self._restarted(host, incarnation)
        for delivery in batch:
            state = self._channels.get(delivery[0])
            if state is None:
                continue
            if state.recovering is not None:
                state.recovering.append(delivery)
                continue
            seq = delivery[1]
            if state.last is not None:
                if seq <= state.last:
                    continue
                if seq > state.last + 1:
                    self.metrics.gaps += 1
                    state.recovering = [delivery]
                    self.spawn(self._mend_gap(delivery[0], state))
                    continue
                state.last = seq
            self._fan_out(state, delivery)

    def _fan_out(self, state: _Channel, delivery: Delivery) -> None:
        channel, seq, frame = delivery
        # Encoded once here; every local subscriber is handed the same bytes.
        wire = text_frame(frame.encode())
        sent = 0
        for connection in state.connections.values():
            subscription = connection.subscriptions.get(channel)
            if subscription is None:
                continue
            if subscription.pending is not None:
                if len(subscription.pending) >= self.limits.pending_per_subscription:
                    self.metrics.dropped += 1
                    connection.close_soon(
                        CloseCode.TRY_AGAIN_LATER, "too slow: subscription backlog"
                    )
                    continue
                subscription.pending.append(delivery)
            elif seq > subscription.last_seq:
                subscription.last_seq = seq
                connection.send_frame(wire)
                sent += 1
        self.metrics.deliveries_out += sent

    async def _mend_gap(self, channel: str, state: _Channel) -> None:
        """Fill a gap from the room's history, or tell the connections it can't be."""
        since = state.last or 0
        try:
            complete, missed = await self.directory.history(channel, since, state.epoch)
        except (RoomUnavailable, PlacementError):
            complete, missed = False, ()
        held = state.recovering or []
        state.recovering = None
        if not complete:
            self.metrics.unrecovered += 1
            restart_at = min((d[1] for d in held), default=since + 1) - 1
            logger.warning(
                "history of %s no longer reaches seq %d: telling %d connections",
                channel,
                since,
                len(state.connections),
            )
            self._reset_connections(state, channel, restart_at, state.epoch or "")
        for delivery in sorted([*missed, *held], key=lambda d: d[1]):
            if state.last is None or delivery[1] > state.last:
                state.last = delivery[1]
                self._fan_out(state, delivery)

    def _reset_connections(
        self, state: _Channel, channel: str, seq: int, epoch: str
    ) -> None:
        """Tell every connection on ``channel`` that numbering resumes after ``seq``."""
        state.last = seq
        frame = ack_frame(channel, seq, False, epoch)
        for connection in state.connections.values():
            subscription = connection.subscriptions.get(channel)
            if subscription is not None and subscription.pending is None:
                subscription.last_seq = seq
                connection.send(frame)

    # -- room restarts ---------------------------------------------------

    def _note_incarnation(self, ref: HostRef, incarnation: str) -> None:
        known = self._incarnations.get(ref.name)
        self._incarnations[ref.name] = incarnation
        if known is not None and known != incarnation:
            self._restarted(ref.name, incarnation)

    def _restarted(self, host: str, incarnation: str) -> None:
        self._incarnations[host] = incarnation
        channels = [c for c, s in self._channels.items() if s.ref.name == host]
        logger.warning(
            "room host %s restarted: registering %d channels again", host, len(channels)
        )
        self.metrics.room_restarts += 1
        for channel in channels:
            state = self._channels[channel]
            if state.recovering is None:
                state.recovering = []
            self.spawn(self._register_again(channel, state, incarnation))

    async def _register_again(
        self, channel: str, state: _Channel, incarnation: str
    ) -> None:
        """Register a channel's connections in a restarted host, and tell them."""
        stale = [
            c
            for c in state.connections.values()
            if (s := c.subscriptions.get(channel)) is not None
            and s.pending is None
            and s.incarnation != incarnation
        ]
        # All at once: the directory sends them to the host in one call.
        outcomes = await asyncio.gather(
            *(
                self.directory.subscribe(
                    channel, self.subscriber, self.handle, c.principal
                )
                for c in stale
            ),
            return_exceptions=True,
        )
        latest: tuple[int, str] | None = None
        for connection, outcome in zip(stale, outcomes, strict=True):
            if isinstance(
                outcome, SubscriptionRefused | RoomUnavailable | PlacementError
            ):
                code = (
                    ErrorCode.FORBIDDEN
                    if isinstance(outcome, SubscriptionRefused)
                    else ErrorCode.UNAVAILABLE
                )
                connection.send(error_frame(channel, code, _reason(outcome)))
                self._forget(connection, channel)
                self.metrics.subscriptions -= 1
                continue
            if isinstance(outcome, BaseException):
                raise outcome
            _, now, result = outcome
            subscription = connection.subscriptions.get(channel)
            if subscription is not None:
                subscription.incarnation = now
            latest = (result.seq, result.epoch)
        held = state.recovering or []
        state.recovering = None
        if latest is not None:
            seq, epoch = latest
            restart_at = min((d[1] for d in held), default=seq + 1) - 1
            state.epoch = epoch
            self._reset_connections(state, channel, min(seq, restart_at), epoch)
        for delivery in sorted(held, key=lambda d: d[1]):
            if state.last is None or delivery[1] > state.last:
                state.last = delivery[1]
                self._fan_out(state, delivery)

    async def watch(self, interval: float) -> None:
        """Check every ``interval`` seconds that the hosts we use did not restart."""
        while True:
            await asyncio.sleep(interval)
            refs = {s.ref.name: s.ref for s in self._channels.values()}
            for name, ref in refs.items():
                try:
                    incarnation = await self.directory.call(ref, "ping")
                except (RoomUnavailable, PlacementError):
                    continue
                except Exception:
                    logger.exception("watching host %s failed", name)
                    continue
                self._note_incarnation(ref, incarnation)
                # A link that broke while its host lived is opened again.
                self.directory.link(ref)


def _reason(error: BaseException) -> str:
    """A short text for a client: never a traceback from across an actor call."""
    if isinstance(error, SubscriptionRefused):
        # Ray re-raises remote errors as subclasses of their cause whose text
        # is the whole remote traceback; the reason survives as an attribute.
        return error.reason
    return str(error).split("\n", 1)[0][:200]


class _Refusal(Exception):
    def __init__(self, code: ErrorCode, text: str) -> None:
        super().__init__(code, text)
        self.code = code
        self.text = text
