"""Room hosts: the Ray actors that rooms live in.

A host carries many rooms (a shard of the shared pool) or one (a dedicated
room). The logic is :class:`RoomHostCore`, plain asyncio; :class:`RoomHost`
is the thin Ray actor shell around it. Rooms are created inside their host on
first use and evicted when idle; a dedicated host whose room was evicted exits
to free its process.

Fan-out: every accepted message goes to the outbox of each subscriber of its
channel, and each subscriber has at most one ``deliver`` call in flight. The
call carries everything pending for that subscriber, across every channel and
room of the host. A subscriber whose call fails because its actor is gone is
dropped from every table and counted.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from partyray.partitioning.address import RoomName
from partyray.partitioning.errors import SubscriptionRefused

from .link import LinkError, LinkServer
from .outbox import DEFAULT_OUTBOX_LIMIT, Delivery, Outbox
from .room import Room, RoomConfig, RoomStatistics, SubscribeResult, SubscriberId

if TYPE_CHECKING:
    from .link import HostEnd

__all__ = [
    "HostStatistics",
    "PublishRequest",
    "RoomHost",
    "RoomHostCore",
    "Subscriber",
]

logger = logging.getLogger("partyray.room")

#: One message to publish in a host: (room, channel, data, id, from client).
PublishRequest = tuple[str, str, Any, "str | None", bool]


class Subscriber(Protocol):
    """What a host needs of a subscriber: a way to hand it a batch."""

    def deliver(self, host: str, incarnation: str, batch: list[Delivery]) -> Any:
        """Deliver ``batch``; the result is awaited before the next batch goes."""
        ...


@dataclass(frozen=True)
class HostStatistics:
    """A snapshot of one host: its rooms and its fan-out counters."""

    name: str
    incarnation: str
    rooms: int
    subscribers: int
    published: int
    deliveries: int
    delivery_calls: int
    link_batches: int
    links: int
    dropped_deliveries: int
    dropped_subscribers: int
    evicted_rooms: int
    room_statistics: tuple[RoomStatistics, ...]


class RoomHostCore:
    """The rooms of one host, their subscribers' outboxes and their flushes.

    ``send`` performs one delivery call to a subscriber and raises
    :class:`LookupError` (or whatever ``gone`` matches) when the subscriber no
    longer exists; the Ray shell passes actor calls.
    """

    def __init__(
        self,
        name: str,
        config: RoomConfig | None = None,
        *,
        outbox_limit: int = DEFAULT_OUTBOX_LIMIT,
        clock: Callable[[], float] = time.monotonic,
        send: Callable[[Any, str, str, list[Delivery]], Awaitable[Any]] | None = None,
        gone: tuple[type[BaseException], ...] = (LookupError,),
    ) -> None:
        self.name = name
        self.config = config or RoomConfig()
        self.incarnation = uuid.uuid4().hex[:12]
        self._clock = clock
        self._outbox_limit = outbox_limit
        self._send = send or _call_deliver
        self._gone = gone
        self._rooms: dict[RoomName, Room] = {}
        self._handles: dict[SubscriberId, Any] = {}
        self._outboxes: dict[SubscriberId, Outbox] = {}
        self._flushing: dict[SubscriberId, asyncio.Task[None]] = {}
        self._links: dict[SubscriberId, HostEnd] = {}
        self._published = 0
        self._deliveries = 0
        self._delivery_calls = 0
        self._link_batches = 0
        self._dropped_subscribers = 0
        self._evicted = 0

    # -- rooms -----------------------------------------------------------

    def room(self, name: str) -> Room:
        """The room called ``name``, created on first use."""
        room = self._rooms.get(RoomName(name))
        if room is None:
            room = Room(RoomName(name), self.config, clock=self._clock)
            self._rooms[RoomName(name)] = room
            logger.debug("room %s created in %s", name, self.name)
        return room

    @property
    def rooms(self) -> int:
        return len(self._rooms)

    def evict_idle(self) -> list[str]:
        """Sweep every room and evict the idle ones; return their names."""
        evicted: list[str] = []
        for name, room in list(self._rooms.items()):
            room.sweep()
            if room.is_idle():
                del self._rooms[name]
                evicted.append(name)
        self._evicted += len(evicted)
        if evicted:
            logger.debug("%s evicted %d idle rooms", self.name, len(evicted))
        return evicted

    # -- subscriptions ---------------------------------------------------

    def subscribe(
        self,
        room: str,
        channel: str,
        subscriber: str,
        handle: Any,
        principal: str | None,
        since: int | None = None,
        epoch: str | None = None,
    ) -> SubscribeResult:
        """Register a connection of ``subscriber`` (see :meth:`Room.subscribe`)."""
        result = self.room(room).subscribe(
            channel, SubscriberId(subscriber), principal, since, epoch
        )
        self._handles[SubscriberId(subscriber)] = handle
        return result

    def subscribe_many(
        self, requests: Sequence[Sequence[Any]], handles: dict[str, Any] | None = None
    ) -> list[SubscribeResult | SubscriptionRefused]:
        """Several :meth:`subscribe` calls; a refusal answers its own request.

        Each request is ``(room, channel, subscriber, principal, since,
        epoch)``. Without ``handles``, every subscriber must be one the host
        holds a handle for already (:class:`LinkError` otherwise, before
        anything is registered).
        """
        if handles is None:
            known = self._handles
            missing = {r[2] for r in requests if SubscriberId(r[2]) not in known}
            if missing:
                raise LinkError(f"no handle for {len(missing)} subscriber(s)")
            handles = {r[2]: known[SubscriberId(r[2])] for r in requests}
        results: list[SubscribeResult | SubscriptionRefused] = []
        for room, channel, subscriber, principal, since, epoch in requests:
            try:
                results.append(
                    self.subscribe(
                        room,
                        channel,
                        subscriber,
                        handles[subscriber],
                        principal,
                        since,
                        epoch,
                    )
                )
            except SubscriptionRefused as refused:
                results.append(refused)
        return results

    def attach_link(self, subscriber: str, link: HostEnd) -> None:
        """Deliver to ``subscriber`` through ``link`` from now on."""
        self._links[SubscriberId(subscriber)] = link

    def detach_link(self, subscriber: str, link: HostEnd) -> None:
        """``link`` is gone: deliver to ``subscriber`` through its handle again."""
        if self._links.get(SubscriberId(subscriber)) is link:
            del self._links[SubscriberId(subscriber)]

    def unsubscribe(
        self, room: str, channel: str, subscriber: str, connections: int = 1
    ) -> None:
        """Take connections of ``subscriber`` off ``channel``."""
        existing = self._rooms.get(RoomName(room))
        if existing is not None:
            existing.unsubscribe(channel, SubscriberId(subscriber), connections)

    def drop_subscriber(self, subscriber: str) -> None:
        """Forget ``subscriber`` everywhere: its tables, its outbox, its handle."""
        sid = SubscriberId(subscriber)
        channels = sum(room.drop_subscriber(sid) for room in self._rooms.values())
        self._handles.pop(sid, None)
        self._links.pop(sid, None)
        outbox = self._outboxes.pop(sid, None)
        lost = len(outbox) if outbox else 0
        self._dropped_subscribers += 1
        logger.warning(
            "%s dropped subscriber %s: %d channels, %d pending deliveries lost",
            self.name,
            subscriber,
            channels,
            lost,
        )

    # -- publishing ------------------------------------------------------

    def publish(self, requests: Sequence[PublishRequest]) -> list[int]:
        """Number and keep each message, queue its deliveries; return the seqs.

        A refused client publish raises before anything of the batch is kept.
        """
        if any(r[4] for r in requests) and not self.config.allow_client_publish:
            raise SubscriptionRefused("client publish is not allowed")
        seqs = []
        touched: set[SubscriberId] = set()
        for room_name, channel, data, message_id, from_client in requests:
            outcome = self.room(room_name).publish(
                channel, data, message_id, from_client=from_client
            )
            seqs.append(outcome.seq)
            message = outcome.message
            if message is None:
                continue
            self._published += 1
            delivery = (message.channel, message.seq, message.frame)
            for subscriber in outcome.subscribers:
                outbox = self._outboxes.get(subscriber)
                if outbox is None:
                    outbox = Outbox(subscriber, self._outbox_limit)
                    self._outboxes[subscriber] = outbox
                outbox.add(delivery)
                touched.add(subscriber)
        for subscriber in touched:
            self._kick(subscriber)
        return seqs

    def history(
        self, room: str, channel: str, since: int, epoch: str | None = None
    ) -> tuple[bool, tuple[Delivery, ...]]:
        """What :meth:`Room.history` says, as deliveries."""
        existing = self._rooms.get(RoomName(room))
        if existing is None:
            return False, ()
        complete, messages = existing.history(channel, since, epoch)
        return complete, tuple((m.channel, m.seq, m.frame) for m in messages)

    async def drain(self) -> None:
        """Wait until every outbox is empty and no delivery is in flight."""
        while self._flushing:
            await asyncio.gather(*self._flushing.values(), return_exceptions=True)

    def statistics(self) -> HostStatistics:
        """A snapshot of the host and of each of its rooms."""
        return HostStatistics(
            name=self.name,
            incarnation=self.incarnation,
            rooms=len(self._rooms),
            subscribers=len(self._handles),
            published=self._published,
            deliveries=self._deliveries,
            delivery_calls=self._delivery_calls,
            link_batches=self._link_batches,
            links=sum(not link.closed for link in self._links.values()),
            dropped_deliveries=sum(o.dropped for o in self._outboxes.values()),
            dropped_subscribers=self._dropped_subscribers,
            evicted_rooms=self._evicted,
            room_statistics=tuple(r.statistics() for r in self._rooms.values()),
        )

    # -- fan-out ---------------------------------------------------------

    def _kick(self, subscriber: SubscriberId) -> None:
        if subscriber not in self._flushing:
            task = asyncio.get_running_loop().create_task(self._flush(subscriber))
            self._flushing[subscriber] = task

    async def _flush(self, subscriber: SubscriberId) -> None:
        # One call in flight per subscriber: what arrives meanwhile waits in
        # the outbox and leaves with the next call.
        try:
            while True:
                outbox = self._outboxes.get(subscriber)
                handle = self._handles.get(subscriber)
                if outbox is None or handle is None or not len(outbox):
                    return
                batch = outbox.take()
                link = self._links.get(subscriber)
                if link is not None and not link.closed:
                    try:
                        await link.deliver(self.name, self.incarnation, batch)
                    except LinkError as error:
                        # Not written (closed, or not fit for a link frame):
                        # the same batch goes through the subscriber's handle.
                        logger.debug("%s: link to %s: %s", self.name, subscriber, error)
                    else:
                        self._link_batches += 1
                        self._deliveries += len(batch)
                        continue
                self._delivery_calls += 1
                try:
                    await self._send(handle, self.name, self.incarnation, batch)
                except self._gone:
                    self.drop_subscriber(subscriber)
                    return
                except Exception:
                    # A delivery that failed for another reason is lost for
                    # this subscriber; it sees the gap and recovers.
                    logger.exception(
                        "%s: delivery of %d to %s failed",
                        self.name,
                        len(batch),
                        subscriber,
                    )
                    continue
                self._deliveries += len(batch)
        finally:
            self._flushing.pop(subscriber, None)


async def _call_deliver(
    handle: Any, host: str, incarnation: str, batch: list[Delivery]
) -> Any:
    return await handle.deliver(host, incarnation, batch)


# -- the Ray shell -------------------------------------------------------


async def _ray_deliver(
    handle: Any, host: str, incarnation: str, batch: list[Delivery]
) -> Any:
    return await handle.deliver.remote(host, incarnation, batch)


class RoomHost:
    """The Ray actor around :class:`RoomHostCore`; create it through the directory.

    ``dedicated`` hosts carry one room and exit when it is evicted, freeing
    their process. ``sweep_interval`` is how often rooms are swept for
    idleness and expired history.
    """

    def __init__(
        self,
        name: str,
        config: RoomConfig | None = None,
        *,
        dedicated: bool = False,
        outbox_limit: int = DEFAULT_OUTBOX_LIMIT,
        sweep_interval: float = 5.0,
    ) -> None:
        import ray.exceptions

        self._core = RoomHostCore(
            name,
            config,
            outbox_limit=outbox_limit,
            send=_ray_deliver,
            gone=(ray.exceptions.RayActorError,),
        )
        self._link_server = LinkServer(self._core)
        self._dedicated = dedicated
        self._sweep_interval = sweep_interval
        self._sweeper: asyncio.Task[None] | None = None

    def _start(self) -> None:
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_interval)
            try:
                self._core.evict_idle()
            except Exception:
                logger.exception("%s: sweep failed", self._core.name)
            if self._dedicated and not self._core.rooms:
                import ray

                # Killing itself without restart frees the name, so the next
                # use of the room creates a fresh host.
                logger.info("dedicated host %s idle: exiting", self._core.name)
                ray.kill(ray.get_runtime_context().current_actor, no_restart=True)

    async def ping(self) -> str:
        """The host's incarnation id; a restarted host has a new one."""
        self._start()
        return self._core.incarnation

    async def subscribe_many(
        self, handles: dict[str, Any], requests: list[tuple[Any, ...]]
    ) -> tuple[str, list[SubscribeResult | SubscriptionRefused]]:
        """Several :meth:`subscribe` calls in one; a refusal answers its own.

        Each request is ``(room, channel, subscriber, principal, since,
        epoch)``; ``handles`` maps each subscriber to its handle.
        """
        self._start()
        results = self._core.subscribe_many(requests, handles)
        return self._core.incarnation, results

    async def link(self) -> tuple[str, int, str, str]:
        """Where to open a link to this host: address, port, secret, incarnation.

        The host listens on its node's address, on a port of its own choosing,
        from the first call on. See :mod:`partyray.actors.link`.
        """
        import ray.util

        self._start()
        node_address: Callable[[], str] = ray.util.get_node_ip_address
        address, port = await self._link_server.start(node_address())
        return address, port, self._link_server.secret, self._core.incarnation

    async def reset_links(self) -> int:
        """Close every link and draw a new secret; return how many were open.

        Callers go through Ray meanwhile and link again, with the new secret,
        on their next use of the host (gateways within their watch interval).
        """
        closed = self._link_server.reset()
        logger.info("%s: links reset (%d closed)", self._core.name, closed)
        return closed

    async def unsubscribe(
        self, room: str, channel: str, subscriber: str, connections: int = 1
    ) -> str:
        self._core.unsubscribe(room, channel, subscriber, connections)
        return self._core.incarnation

    async def publish(self, requests: list[PublishRequest]) -> tuple[str, list[int]]:
        self._start()
        return self._core.incarnation, self._core.publish(requests)

    async def history(
        self, room: str, channel: str, since: int, epoch: str | None = None
    ) -> tuple[bool, tuple[Delivery, ...]]:
        return self._core.history(room, channel, since, epoch)

    async def node(self) -> str:
        """The id of the Ray node this host runs on."""
        import ray

        node_id: str = ray.get_runtime_context().get_node_id()
        return node_id

    async def statistics(self) -> HostStatistics:
        return self._core.statistics()
