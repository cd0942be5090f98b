"""The Python subscription client, in the shape of Remult's ``SubscriptionClient``.

::

    client = SubscriptionClient("http://127.0.0.1:8000", token=get_token)
    connection = await client.open_connection(on_reconnect=reload)
    unsubscribe = await connection.subscribe("chat?roomId=r1", print, print)
    ...
    unsubscribe()
    await connection.close()

Guarantees, per channel: messages reach ``on_message`` in the room's order,
each at most once, across reconnects. A message lost for good (the room's
history no longer reaches back, or the room restarted) is never skipped
silently: ``on_reconnect`` is called once the socket is back and every
channel is subscribed again, so the application can reload. See
``docs/client.md`` for the full contract and its limits.

Modes: ``"pooled"`` keeps one room-bound socket per room, opened by the first
subscription of the room and closed ``grace`` seconds after its last one ends;
``"multiplexed"`` carries every room over one socket to ``/ws``.

Callbacks may be plain functions or coroutine functions. They run one at a
time, in arrival order, from a queue of at most ``max_queue`` entries; while
it is full the client stops reading its sockets, and the gateway in turn
closes a socket whose outbound queue overflows (the client then reconnects and
recovers). An exception in a callback is logged and counted, never raised.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from partyray.partitioning.address import PartitionStrategy
from partyray.partitioning.errors import RoomUnavailable, SubscriptionRefused

from ._client_backoff import Backoff
from ._client_link import Counters, Link, LinkOptions, Listener, TokenSource

__all__ = [
    "Backoff",
    "ClientStatistics",
    "Connection",
    "Mode",
    "OnError",
    "OnMessage",
    "OnReconnect",
    "RoomUnavailable",
    "SubscriptionClient",
    "SubscriptionRefused",
    "TokenSource",
    "Unsubscribe",
]

logger = logging.getLogger("partyray.client")

#: How sockets are laid out: one per room, or one for every room.
Mode = Literal["pooled", "multiplexed"]

#: Called with each message's ``data``; may return an awaitable.
OnMessage = Callable[[Any], object]

#: Called with a :class:`SubscriptionRefused` when the gateway ends a channel.
OnError = Callable[[BaseException], object]

#: Called after a reconnect that could not recover every channel.
OnReconnect = Callable[[], object]

#: Ends one subscription; calling it again does nothing.
Unsubscribe = Callable[[], None]

_MODES = ("pooled", "multiplexed")


@dataclass(frozen=True)
class ClientStatistics:
    """A snapshot of a connection's (or a whole client's) counters.

    ``sockets_open`` and ``subscriptions`` are current values; the rest are
    totals since the connection was opened. ``messages_delivered`` counts
    messages handed to the application, once per message however many
    listeners it had.
    """

    sockets_open: int = 0
    subscriptions: int = 0
    messages_delivered: int = 0
    duplicates_dropped: int = 0
    gaps_detected: int = 0
    reconnects: int = 0
    recoveries_failed: int = 0
    callback_errors: int = 0
    queued: int = 0


class SubscriptionClient:
    """Opens connections to a partyray gateway.

    ``url`` is the gateway's base, ``http(s)://`` or ``ws(s)://``, with an
    optional path prefix. ``strategy`` maps channels to rooms in pooled mode
    and must match the gateway's (default: remult-partykit's rules).
    ``token`` is sent as ``?token=``; a callable is called again for every
    connect and reconnect, so a fresh token is used each time.

    ``heartbeat`` is the quiet time (seconds without any frame) after which a
    ``ping`` is sent, and ``heartbeat_timeout`` how long after that ping a
    silent socket is declared dead and reconnected. ``backoff`` bounds the
    delays between reconnect attempts, which are never given up.
    ``subscribe_timeout`` bounds the wait for a subscription's
    acknowledgement. ``fire_on_every_reconnect`` calls ``on_reconnect`` after
    every reconnect, as Remult's SSE client does, not only after one that lost
    messages.
    """

    def __init__(
        self,
        url: str,
        *,
        strategy: PartitionStrategy | None = None,
        mode: Mode = "pooled",
        token: TokenSource = None,
        party: str = "main",
        grace: float = 5.0,
        heartbeat: float = 30.0,
        heartbeat_timeout: float = 10.0,
        backoff: Backoff | None = None,
        connect_timeout: float = 10.0,
        subscribe_timeout: float = 10.0,
        fire_on_every_reconnect: bool = False,
        max_queue: int = 1024,
        max_frame: int = 4 * 1024 * 1024,
    ) -> None:
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, not {mode!r}")
        for name, value in (
            ("grace", grace),
            ("heartbeat", heartbeat),
            ("heartbeat_timeout", heartbeat_timeout),
            ("connect_timeout", connect_timeout),
            ("subscribe_timeout", subscribe_timeout),
        ):
            if value < 0 or (value == 0 and name != "grace"):
                raise ValueError(f"{name} must be positive")
        if max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        if strategy is None and mode == "pooled":
            from partyray.partitioning import RemultPartykit

            strategy = RemultPartykit()
        self.mode: Mode = mode
        self.strategy = strategy
        self.party = party
        self.grace = grace
        self.subscribe_timeout = subscribe_timeout
        self.fire_on_every_reconnect = fire_on_every_reconnect
        self.max_queue = max_queue
        self.link_options = LinkOptions(
            ws_base=_ws_base(url),
            token=token,
            backoff=backoff or Backoff(),
            heartbeat=heartbeat,
            heartbeat_timeout=heartbeat_timeout,
            connect_timeout=connect_timeout,
            max_frame=max_frame,
        )
        self._connections: set[Connection] = set()
        self._retired = Counters()

    async def open_connection(
        self, on_reconnect: OnReconnect | None = None
    ) -> Connection:
        """Return a new connection; its sockets open with its first subscriptions."""
        connection = Connection(self, on_reconnect)
        self._connections.add(connection)
        return connection

    def statistics(self) -> ClientStatistics:
        """Counters summed over every connection this client opened."""
        totals = [c.statistics() for c in self._connections]
        retired = ClientStatistics(**vars(self._retired))
        return _sum([retired, *totals])

    def _retire(self, connection: Connection) -> None:
        self._connections.discard(connection)
        for name, value in vars(connection.counters).items():
            setattr(self._retired, name, getattr(self._retired, name) + value)


class Connection:
    """A set of subscriptions sharing one ``on_reconnect`` and one callback queue.

    Made by :meth:`SubscriptionClient.open_connection`; ended by
    :meth:`close`, also usable as ``async with``.
    """

    def __init__(
        self, client: SubscriptionClient, on_reconnect: OnReconnect | None
    ) -> None:
        self._client = client
        self._on_reconnect = on_reconnect
        self.counters = Counters()
        self._links: dict[str, Link] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._retiring: set[asyncio.Task[None]] = set()
        self._queue = _CallbackQueue(client.max_queue)
        self._dispatcher = asyncio.get_running_loop().create_task(
            self._dispatch(), name="partyray-client-dispatch"
        )
        self._closed = False

    async def subscribe(
        self,
        channel: str,
        on_message: OnMessage,
        on_error: OnError | None = None,
    ) -> Unsubscribe:
        """Subscribe to ``channel``; return once the gateway has acknowledged it.

        Messages published after the acknowledgement reach ``on_message``.
        Raises :class:`SubscriptionRefused` (with the wire ``code``, such as
        ``forbidden`` or ``wrong_room``) when the gateway refuses the channel,
        after reporting it to ``on_error`` as well, and
        :class:`RoomUnavailable` when no acknowledgement arrives within the
        client's ``subscribe_timeout``. In pooled mode a channel no partition
        rule maps raises :class:`~partyray.partitioning.errors.PartitionError`.
        """
        if self._closed:
            raise RoomUnavailable("connection is closed")
        if not isinstance(channel, str) or not channel:
            raise ValueError("channel must be a non-empty string")
        listener = Listener(channel, on_message, on_error or _log_error)
        link = self._link_for(channel)
        await link.subscribe(listener, self._client.subscribe_timeout)

        def unsubscribe() -> None:
            link.remove(listener)

        return unsubscribe

    async def close(self) -> None:
        """End every subscription and socket; queued callbacks are dropped."""
        if self._closed:
            return
        self._closed = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        links = list(self._links.values())
        self._links.clear()
        await asyncio.gather(*(link.close() for link in links), *self._retiring)
        self._client._retire(self)

        # Called from a callback, the dispatcher is the current task: it ends
        # at its next wait instead of being awaited here.
        self._dispatcher.cancel()
        if asyncio.current_task() is not self._dispatcher:
            await asyncio.gather(self._dispatcher, return_exceptions=True)

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def statistics(self) -> ClientStatistics:
        """This connection's counters and current gauges."""
        links = list(self._links.values())
        return ClientStatistics(
            sockets_open=sum(link.is_open for link in links),
            subscriptions=sum(link.listener_count() for link in links),
            queued=len(self._queue),
            **vars(self.counters),
        )

    # -- pooling ---------------------------------------------------------------

    def _link_for(self, channel: str) -> Link:
        client = self._client
        if client.strategy is None or client.mode == "multiplexed":
            key, path, params = "ws", "/ws", {}
        else:
            room = str(client.strategy.resolve(channel).name)
            key, path, params = room, f"/party/{client.party}", {"room": room}
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        link = self._links.get(key)
        if link is None:
            link = Link(key, path, params, client.link_options, self)
            self._links[key] = link
        return link

    def link_empty(self, link: Link) -> None:
        """Close ``link`` after the grace period unless it is used again."""
        if self._closed or self._links.get(link.key) is not link:
            return
        if link.key not in self._timers:
            loop = asyncio.get_running_loop()
            self._timers[link.key] = loop.call_later(
                self._client.grace, self._grace_over, link
            )

    def _grace_over(self, link: Link) -> None:
        self._timers.pop(link.key, None)
        if not link.empty or self._links.get(link.key) is not link:
            return
        del self._links[link.key]
        task = asyncio.get_running_loop().create_task(link.close())
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)
        logger.debug("connection: socket for %s closed after grace", link.key)

    # -- callbacks -------------------------------------------------------------

    async def deliver(self, link: Link, listeners: list[Listener], data: Any) -> None:
        """Queue one message for ``listeners``, waiting while the queue is full."""
        await self._queue.put(("message", listeners, data))

    def report_error(self, listeners: list[Listener], error: BaseException) -> None:
        """Queue ``error`` for the listeners' ``on_error``."""
        self._queue.put_notice(("error", listeners, error))

    def recovery_finished(self, link: Link, *, reconnect: bool, lost: bool) -> None:
        """Call ``on_reconnect`` after the recovery if messages may be lost."""
        if lost or (reconnect and self._client.fire_on_every_reconnect):
            self._queue.put_notice(("reconnect",))

    async def _dispatch(self) -> None:
        while True:
            item = await self._queue.get()
            kind = item[0]
            if kind == "message":
                _, listeners, data = item
                self.counters.messages_delivered += 1
                for listener in listeners:
                    if listener.active:
                        await self._call(listener.on_message, data)
            elif kind == "error":
                _, listeners, error = item
                for listener in listeners:
                    await self._call(listener.on_error, error)
            elif self._on_reconnect is not None:
                await self._call(self._on_reconnect)

    async def _call(self, callback: Callable[..., object], *args: Any) -> None:
        try:
            result = callback(*args)
            if inspect.isawaitable(result):
                await result
        except asyncio.CancelledError:
            raise
        except Exception:
            self.counters.callback_errors += 1
            logger.exception("connection: callback %r raised", callback)


class _CallbackQueue:
    """A FIFO of callback work: messages wait for room, notices never do.

    At most ``bound`` messages are held. Notices (errors, reconnects) come from
    socket readers that must not block on them; they are few (one per channel
    or per reconnect), so they may exceed the bound.
    """

    def __init__(self, bound: int) -> None:
        self._bound = bound
        self._items: collections.deque[tuple[Any, ...]] = collections.deque()
        self._not_empty = asyncio.Event()
        self._not_full = asyncio.Event()
        self._not_full.set()

    def __len__(self) -> int:
        return len(self._items)

    async def put(self, item: tuple[Any, ...]) -> None:
        while len(self._items) >= self._bound:
            self._not_full.clear()
            await self._not_full.wait()
        self._items.append(item)
        self._not_empty.set()

    def put_notice(self, item: tuple[Any, ...]) -> None:
        self._items.append(item)
        self._not_empty.set()

    async def get(self) -> tuple[Any, ...]:
        while not self._items:
            self._not_empty.clear()
            await self._not_empty.wait()
        item = self._items.popleft()
        if len(self._items) < self._bound:
            self._not_full.set()
        return item


def _log_error(error: BaseException) -> None:
    logger.warning("subscription error: %s", error)


def _ws_base(url: str) -> str:
    """The WebSocket form of a gateway base URL, without a trailing slash."""
    parts = urlsplit(url)
    schemes = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}
    if parts.scheme not in schemes or not parts.netloc:
        raise ValueError(f"gateway url must be http(s):// or ws(s)://, not {url!r}")
    path = parts.path.rstrip("/")
    return urlunsplit((schemes[parts.scheme], parts.netloc, path, "", ""))


def _sum(snapshots: list[ClientStatistics]) -> ClientStatistics:
    names = list(vars(ClientStatistics()))
    return ClientStatistics(
        **{name: sum(getattr(s, name) for s in snapshots) for name in names}
    )
