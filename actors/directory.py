"""The room directory: get or create any room by name, wherever it is hosted.

A room lives in one of a bounded pool of shard hosts, chosen by rendezvous
hashing of its name (rooms placed in a region have a pool of that region's),
or, when its placement asks for it, in a dedicated host of its own. Hosts are
named, detached Ray actors, got or created by name, so that every process that
asks for a room reaches the same one; each directory caches the handles it has
looked up.

Calls to a host that is restarting are retried until ``call_timeout``; a call
to a dedicated host that exited (idle) creates it again. A placement that no
node of the cluster can satisfy fails with :class:`PlacementError` at once
when no node carries the region, or after ``ready_timeout`` when the actor
stays pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from partyray.partitioning.address import PartitionStrategy, Placement, RoomAddress
from partyray.partitioning.errors import PlacementError, RoomUnavailable

from .coalesce import Coalescer
from .host import PublishRequest, RoomHost
from .link import DeliverCallback, HostLink, LinkError
from .outbox import DEFAULT_OUTBOX_LIMIT, Delivery
from .room import RoomConfig, SubscribeResult

__all__ = [
    "DEFAULT_NAMESPACE",
    "DirectoryConfig",
    "HostRef",
    "PublishItem",
    "RoomDirectory",
    "shard_for",
]

logger = logging.getLogger("partyray.directory")

#: How many channels a directory remembers the room and host of.
_RESOLVED_KEPT = 100_000

#: The Ray namespace partyray's named actors live in.
DEFAULT_NAMESPACE = "partyray"


@dataclass(frozen=True)
class PublishItem:
    """One message to publish: its channel, its data and an optional id."""

    channel: str
    data: Any
    id: str | None = None


@dataclass(frozen=True)
class DirectoryConfig:
    """How rooms are hosted and reached.

    ``shards`` bounds the shared pool. ``room`` configures every room (the
    first process to create a host fixes its configuration). ``ready_timeout``
    bounds the wait for a new host to start; ``call_timeout`` bounds a call,
    retries included. ``outbox_limit`` is each subscriber's pending bound in a
    host (see :mod:`partyray.actors.outbox`). ``links`` lets publishes and
    deliveries take a direct stream to each host instead of a Ray call each
    (see :mod:`partyray.actors.link`).
    """

    namespace: str = DEFAULT_NAMESPACE
    shards: int = 4
    room: RoomConfig = field(default_factory=RoomConfig)
    ready_timeout: float = 20.0
    call_timeout: float = 15.0
    outbox_limit: int = DEFAULT_OUTBOX_LIMIT
    sweep_interval: float = 5.0
    max_concurrency: int = 1000
    links: bool = True

    def __post_init__(self) -> None:
        if self.shards < 1:
            raise ValueError("a directory needs at least one shard")


@dataclass(frozen=True)
class HostRef:
    """Where a room lives: its host's actor name and whether it is dedicated."""

    name: str
    dedicated: bool
    placement: Placement


def shard_for(room: str, shards: int) -> int:
    """The shard of ``room`` among ``shards``, by rendezvous hashing.

    Each shard scores the room; the highest score wins. Growing the pool from
    n to n + 1 shards moves only about 1 / (n + 1) of the rooms.
    """

    def score(shard: int) -> bytes:
        return hashlib.blake2b(f"{shard}/{room}".encode(), digest_size=8).digest()

    return max(range(shards), key=score)


class RoomDirectory:
    """Gets or creates rooms by name and forwards calls to their hosts.

    Use one directory per process; it needs ``ray.init`` to have run. Its
    methods are coroutines meant for the process's event loop (a gateway
    actor's, a publisher's); the blocking Ray name look-ups run in a thread.
    """

    def __init__(
        self, strategy: PartitionStrategy, config: DirectoryConfig | None = None
    ) -> None:
        self.strategy = strategy
        self.config = config or DirectoryConfig()
        self._handles: dict[str, Any] = {}
        self._creating: dict[str, asyncio.Future[Any]] = {}
        self._publishers: dict[tuple[str, bool], Coalescer[Any, Any]] = {}
        self._subscribers: dict[str, Coalescer[Any, Any]] = {}
        self._resolved: dict[str, tuple[RoomAddress, HostRef]] = {}
        self._links: dict[str, HostLink] = {}
        self._linking: dict[str, asyncio.Task[None]] = {}
        self._link_failed: dict[str, float] = {}
        self._subscriber: str | None = None
        self._on_deliver: DeliverCallback | None = None
        self.link_deliveries = 0

    def attach(self, subscriber: str, on_deliver: DeliverCallback) -> None:
        """Take ``subscriber``'s deliveries over this directory's links.

        A gateway calls this once, before its first subscription: hosts then
        write its deliveries to the link and ``on_deliver`` gets them, exactly
        as the gateway's ``deliver`` method gets them through Ray.
        """
        self._subscriber = subscriber

        def counted(host: str, incarnation: str, batch: list[Delivery]) -> None:
            self.link_deliveries += len(batch)
            on_deliver(host, incarnation, batch)

        self._on_deliver = counted

    @property
    def open_links(self) -> int:
        """How many links of this directory are open now."""
        return sum(not link.closed for link in self._links.values())

    # -- addressing ------------------------------------------------------

    def locate(self, address: RoomAddress) -> HostRef:
        """The host of the room at ``address``."""
        placement = address.placement
        if placement.dedicated:
            return HostRef(f"room/{address.name}", True, placement)
        shard = shard_for(address.name, self.config.shards)
        if placement.region is not None:
            # Each region has a pool of its own, so that a shard placed for one
            # region's room never carries another region's.
            strict = "!" if placement.strict else ""
            return HostRef(
                f"shard/{placement.region}{strict}/{shard}", False, placement
            )
        return HostRef(f"shard/{shard}", False, placement)

    def pool(self) -> list[HostRef]:
        """The hosts of the shared pool (the pool with no region)."""
        return [
            HostRef(f"shard/{k}", False, Placement()) for k in range(self.config.shards)
        ]

    def resolve(self, channel: str) -> tuple[RoomAddress, HostRef]:
        """The room of ``channel`` and its host (raises ``PartitionError``).

        Strategies are pure, so answers are remembered: the last
        ``_RESOLVED_KEPT`` channels resolve without hashing again.
        """
        known = self._resolved.get(channel)
        if known is not None:
            return known
        address = self.strategy.resolve(channel)
        answer = address, self.locate(address)
        if len(self._resolved) >= _RESOLVED_KEPT:
            # Forget the oldest quarter at once rather than one per miss.
            for stale in list(itertools.islice(self._resolved, _RESOLVED_KEPT // 4)):
                del self._resolved[stale]
        self._resolved[channel] = answer
        return answer

    # -- hosts -----------------------------------------------------------

    async def host(self, ref: HostRef) -> Any:
        """The actor handle of ``ref``'s host, got or created, and started."""
        handle = self._handles.get(ref.name)
        if handle is not None:
            return handle
        pending = self._creating.get(ref.name)
        if pending is None:
            pending = asyncio.get_running_loop().create_future()
            self._creating[ref.name] = pending
            try:
                handle = await self._get_or_create(ref)
            except BaseException as error:
                pending.set_exception(error)
                # The waiters, if any, take the error; nobody else must.
                pending.exception()
                raise
            else:
                self._handles[ref.name] = handle
                pending.set_result(handle)
            finally:
                del self._creating[ref.name]
            return handle
        return await pending

    def forget(self, ref: HostRef) -> None:
        """Drop the cached handle of ``ref``'s host; the next use looks it up."""
        self._handles.pop(ref.name, None)

    def link(self, ref: HostRef) -> HostLink | None:
        """The open link to ``ref``'s host, or ``None`` (and start opening one)."""
        link = self._links.get(ref.name)
        loop = asyncio.get_running_loop()
        if link is not None and not link.closed:
            if link.loop is loop:
                return link
            # Opened in another event loop (an earlier asyncio.run, say),
            # whose reads will never run again: open a new one here.
            link.close()
        task = self._linking.get(ref.name)
        if task is not None and task.get_loop() is not loop:
            del self._linking[ref.name]
        if not self.config.links or ref.name in self._linking:
            return None
        if time.monotonic() - self._link_failed.get(ref.name, -60.0) < 5.0:
            return None
        self._linking[ref.name] = loop.create_task(self._open_link(ref))
        return None

    async def _open_link(self, ref: HostRef) -> None:
        try:
            handle = await self.host(ref)
            address, port, secret, _ = await asyncio.wait_for(
                handle.link.remote(), self.config.call_timeout
            )
            link = await HostLink.open(
                ref.name, (address, port), secret, self._subscriber, self._on_deliver
            )
        except Exception as error:
            # Ray carries on alone; another attempt is made a little later.
            self._link_failed[ref.name] = time.monotonic()
            logger.info("no link to %s (%r): calls go through Ray", ref.name, error)
        else:
            self._links[ref.name] = link
            logger.debug("link to %s open", ref.name)
        finally:
            if self._linking.get(ref.name) is asyncio.current_task():
                del self._linking[ref.name]

    def close_links(self) -> None:
        """Close every link; calls go through Ray until they open again."""
        for link in self._links.values():
            link.close()
        self._links.clear()

    async def _get_or_create(self, ref: HostRef) -> Any:
        import ray

        options = self._actor_options(ref)
        cls = ray.remote(RoomHost)
        started = time.monotonic()

        # Named creation does a blocking round trip to the GCS: keep it off
        # the event loop.
        def create() -> Any:
            return cls.options(**options).remote(
                ref.name,
                self.config.room,
                dedicated=ref.dedicated,
                outbox_limit=self.config.outbox_limit,
                sweep_interval=self.config.sweep_interval,
            )

        handle = await asyncio.to_thread(create)
        try:
            await asyncio.wait_for(handle.ping.remote(), self.config.ready_timeout)
        except asyncio.TimeoutError:
            # A host that stays pending would hold its name for good: kill it
            # so that a later attempt, perhaps with more nodes, starts afresh.
            ray.kill(handle, no_restart=True)
            raise PlacementError(
                f"host {ref.name} did not start within "
                f"{self.config.ready_timeout:g} s (placement {ref.placement})"
            ) from None
        logger.debug("host %s ready in %.3f s", ref.name, time.monotonic() - started)
        return handle

    def _actor_options(self, ref: HostRef) -> dict[str, Any]:
        options: dict[str, Any] = {
            "name": ref.name,
            "namespace": self.config.namespace,
            "get_if_exists": True,
            "lifetime": "detached",
            "max_restarts": -1,
            "max_task_retries": 0,
            "num_cpus": 0,
            "max_concurrency": self.config.max_concurrency,
            "enable_task_events": False,
        }
        region = ref.placement.region
        if region is not None:
            placed = region_options(region)
            if placed is not None:
                options.update(placed)
            elif ref.placement.strict:
                raise PlacementError(f"no node of the cluster is in region {region!r}")
            else:
                logger.info(
                    "no node in region %r for %s: placing it anywhere", region, ref.name
                )
        return options

    # -- calls -----------------------------------------------------------

    async def call(self, ref: HostRef, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call ``method`` on ``ref``'s host, riding out restarts.

        A host that is restarting is retried with jittered backoff until
        ``call_timeout``; a dedicated host that exited is created again.
        Raises :class:`RoomUnavailable` when the time is up.
        """
        import ray.exceptions

        deadline = time.monotonic() + self.config.call_timeout
        delay = 0.05
        while True:
            handle = await self.host(ref)
            try:
                remaining = max(0.1, deadline - time.monotonic())
                return await asyncio.wait_for(
                    getattr(handle, method).remote(*args, **kwargs), remaining
                )
            except ray.exceptions.ActorDiedError:
                # Dedicated hosts exit when idle; shards never should, but a
                # killed one is created again just the same.
                self.forget(ref)
                error: BaseException = RoomUnavailable(f"host {ref.name} died")
            except ray.exceptions.ActorUnavailableError:
                error = RoomUnavailable(f"host {ref.name} is restarting")
            except asyncio.TimeoutError:
                error = RoomUnavailable(f"host {ref.name} did not answer in time")
            if time.monotonic() + delay >= deadline:
                raise error
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, 1.0)

    # -- rooms -----------------------------------------------------------

    async def subscribe(
        self,
        channel: str,
        subscriber: str,
        handle: Any,
        principal: str | None,
        since: int | None = None,
        epoch: str | None = None,
    ) -> tuple[HostRef, str, SubscribeResult]:
        """Register a connection of ``subscriber`` on ``channel`` in its room.

        Returns the host, its incarnation and the room's answer. Raises
        ``PartitionError`` for a channel with no room and
        ``SubscriptionRefused`` when the room's check says no.
        """
        address, ref = self.resolve(channel)
        request = (address.name, channel, subscriber, handle, principal, since, epoch)
        incarnation, result = await self._subscriber_batches(ref).submit(request)
        return ref, incarnation, result

    async def unsubscribe(
        self, channel: str, subscriber: str, connections: int = 1
    ) -> None:
        """Take connections of ``subscriber`` off ``channel``."""
        address, ref = self.resolve(channel)
        link = self.link(ref)
        if link is not None:
            try:
                link.unsubscribe(address.name, channel, subscriber, connections)
            except LinkError:
                pass
            else:
                return
        await self.call(
            ref, "unsubscribe", address.name, channel, subscriber, connections
        )

    async def history(
        self, channel: str, since: int, epoch: str | None = None
    ) -> tuple[bool, tuple[Delivery, ...]]:
        """The room's kept messages of ``channel`` after ``since``."""
        address, ref = self.resolve(channel)
        result: tuple[bool, tuple[Delivery, ...]] = await self.call(
            ref, "history", address.name, channel, since, epoch
        )
        return result

    async def publish(
        self, items: Sequence[PublishItem], *, from_client: bool = False
    ) -> list[int]:
        """Publish ``items``, one call per host; return their seqs in order.

        Every room is resolved before anything is sent, so a channel with no
        room fails the whole batch. Hosts are called concurrently.
        """
        return await self.publish_soon(items, from_client=from_client)

    def publish_soon(
        self, items: Sequence[PublishItem], *, from_client: bool = False
    ) -> asyncio.Future[list[int]]:
        """:meth:`publish`, queued now; the future gets the seqs.

        Items bound for one host join its next batch before this returns, so
        the order of calls is the order of publishes; a channel with no room
        raises at once, as does a host whose queue is full.
        """
        groups: dict[str, tuple[HostRef, list[int], list[PublishRequest]]] = {}
        for index, item in enumerate(items):
            address, ref = self.resolve(item.channel)
            group = groups.setdefault(ref.name, (ref, [], []))
            group[1].append(index)
            group[2].append(
                (address.name, item.channel, item.data, item.id, from_client)
            )
        if len(groups) == 1:
            # One host (a single message, say): its seqs are in item order,
            # and no gather nor task stands between the caller and its batch.
            ((ref, _, requests),) = groups.values()
            return self._publish_batches(ref, from_client).submit_soon(requests)
        answers = [
            self._publish_batches(ref, from_client).submit_soon(requests)
            for ref, _, requests in groups.values()
        ]

        async def gathered() -> list[int]:
            seqs = [0] * len(items)
            results = await asyncio.gather(*answers)
            for (_, indexes, _), group_seqs in zip(
                groups.values(), results, strict=True
            ):
                for index, seq in zip(indexes, group_seqs, strict=True):
                    seqs[index] = seq
            return seqs

        return asyncio.ensure_future(gathered())

    def _publish_batches(
        self, ref: HostRef, from_client: bool
    ) -> Coalescer[list[PublishRequest], list[int]]:
        # Publishes from every caller of this process to one host leave
        # together: one call per round trip, however many callers.
        key = (ref.name, from_client)
        batches = self._publishers.get(key)
        if batches is None:

            async def send(groups: list[list[PublishRequest]]) -> list[Any]:
                flat = [request for group in groups for request in group]
                seqs = None
                link = self.link(ref)
                if link is not None:
                    try:
                        _, seqs = await link.publish(flat)
                    except LinkError as error:
                        # Not sent, or sent and not answered (the host may
                        # have died): Ray's call below rides that out. Message
                        # ids make the second attempt safe.
                        logger.info("publish over the link to %s: %s", ref.name, error)
                if seqs is None:
                    _, seqs = await self.call(ref, "publish", flat)
                out, start = [], 0
                for group in groups:
                    out.append(seqs[start : start + len(group)])
                    start += len(group)
                return out

            batches = self._publishers[key] = Coalescer(ref.name, send)
        return batches

    def _subscriber_batches(
        self, ref: HostRef
    ) -> Coalescer[tuple[Any, ...], tuple[str, SubscribeResult]]:
        batches = self._subscribers.get(ref.name)
        if batches is None:

            async def send(requests: list[tuple[Any, ...]]) -> list[Any]:
                # Each subscriber's handle goes once per call, not once per
                # request: a handle costs the host a deserialisation each time.
                bare = [(r[0], r[1], r[2], *r[4:]) for r in requests]
                answer = None
                link = self.link(ref)
                if link is not None:
                    # The host holds each subscriber's handle from its first
                    # subscription, which went through Ray; if not, Ray again.
                    with contextlib.suppress(LinkError):
                        answer = await link.subscribe(bare)
                if answer is None:
                    handles = {r[2]: r[3] for r in requests}
                    answer = await self.call(ref, "subscribe_many", handles, bare)
                incarnation, results = answer
                # A subscriber's deliveries take the link once it is open.
                self.link(ref)
                return [
                    r if isinstance(r, BaseException) else (incarnation, r)
                    for r in results
                ]

            batches = self._subscribers[ref.name] = Coalescer(ref.name, send)
        return batches

    async def statistics(self) -> list[Any]:
        """The statistics of every host this directory has reached."""
        names = list(self._handles)
        results = await asyncio.gather(
            *(self._handles[n].statistics.remote() for n in names),
            return_exceptions=True,
        )
        return [r for r in results if not isinstance(r, BaseException)]


def region_options(region: str) -> dict[str, Any] | None:
    """Ray options that place an actor in ``region``, or ``None`` when no node can.

    A node is in a region when it carries the label ``region=<name>`` (the
    preferred way) or the custom resource ``region:<name>``.
    """
    import ray

    # ray.nodes is untyped; name the shape it returns.
    nodes: Callable[[], list[dict[str, Any]]] = ray.nodes
    by_resource = False
    for node in nodes():
        if not node.get("Alive"):
            continue
        if (node.get("Labels") or {}).get("region") == region:
            return {"label_selector": {"region": region}}
        by_resource = by_resource or f"region:{region}" in (node.get("Resources") or {})
    if by_resource:
        return {"resources": {f"region:{region}": 0.001}}
    return None
