"""One reconnecting client socket and the channels it carries.

A *link* is what the client keeps per socket: in pooled mode one per room
(``/party/{party}?room=...``), in multiplexed mode a single one (``/ws``). It
owns the socket's whole life:

* connect, and after any loss reconnect with capped, jittered backoff,
  re-evaluating the token each time;
* send every channel's subscribe again after a reconnect, with ``since`` and
  ``epoch``, and tell its owner when every answer is in;
* judge each data frame by sequence number (see :mod:`._client_sequence`) and
  recover a gap by subscribing again with ``since``;
* ping after a quiet interval, and abort the socket when nothing arrives for
  ``heartbeat_timeout`` after the ping.

The link never runs application callbacks itself: it hands messages to its
owner, whose bounded queue may make the reader wait. While it waits the
heartbeat does not count the silence against the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlencode

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from partyray.partitioning.errors import RoomUnavailable, SubscriptionRefused

from ._client_backoff import Backoff, BackoffCounter
from ._client_sequence import ChannelSequence, Verdict

__all__ = ["Counters", "Link", "LinkOptions", "LinkOwner", "Listener", "TokenSource"]

logger = logging.getLogger("partyray.client")

#: A token, or a function (sync or async) called for a fresh one per connect.
TokenSource = str | Callable[[], str | Awaitable[str]] | None

#: Close code of a socket this client ends on purpose.
CLOSE_NORMAL = 1000

#: HTTP statuses of a handshake refused for its credentials.
_UNAUTHORIZED_STATUSES = frozenset({401, 403})

#: Error codes after which a subscribe is worth sending again.
_RETRYABLE_CODES = frozenset({"unavailable"})


@dataclass(frozen=True)
class LinkOptions:
    """Settings shared by every link of one client."""

    ws_base: str
    token: TokenSource
    backoff: Backoff
    heartbeat: float
    heartbeat_timeout: float
    connect_timeout: float
    max_frame: int


@dataclass
class Counters:
    """The running totals behind a connection's statistics."""

    messages_delivered: int = 0
    duplicates_dropped: int = 0
    gaps_detected: int = 0
    reconnects: int = 0
    recoveries_failed: int = 0
    callback_errors: int = 0


@dataclass(eq=False)
class Listener:
    """One subscription made by the application: its two callbacks."""

    channel: str
    on_message: Callable[[Any], object]
    on_error: Callable[[BaseException], object]
    active: bool = True


def _new_future() -> asyncio.Future[None]:
    return asyncio.get_running_loop().create_future()


@dataclass(eq=False)
class _Channel:
    """A channel carried by a link, shared by every listener of it."""

    name: str
    listeners: list[Listener] = field(default_factory=list)
    sequence: ChannelSequence = field(default_factory=ChannelSequence)
    acked: asyncio.Future[None] = field(default_factory=_new_future)
    retries: BackoffCounter | None = None


class LinkOwner(Protocol):
    """What a link needs from the connection that owns it."""

    counters: Counters

    async def deliver(self, link: Link, listeners: list[Listener], data: Any) -> None:
        """Queue ``data`` for ``listeners``; may wait while the queue is full."""

    def report_error(self, listeners: list[Listener], error: BaseException) -> None:
        """Queue ``error`` for the ``on_error`` of ``listeners``."""

    def recovery_finished(self, link: Link, *, reconnect: bool, lost: bool) -> None:
        """A reconnect (or a gap) was recovered; ``lost``: messages may be gone."""

    def link_empty(self, link: Link) -> None:
        """The link carries no channel any more."""


class Link:
    """A reconnecting socket to one endpoint, carrying a set of channels.

    ``path`` and ``params`` make the URL together with the token. The link is
    started by its first channel and ends with :meth:`close` or, once it has
    no channel, when its socket is lost.
    """

    def __init__(
        self,
        key: str,
        path: str,
        params: dict[str, str],
        options: LinkOptions,
        owner: LinkOwner,
    ) -> None:
        self.key = key
        self._path = path
        self._params = params
        self._options = options
        self._owner = owner
        self._channels: dict[str, _Channel] = {}
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False
        self._served = False
        self._round: set[str] = set()
        self._round_lost = False
        self._round_reconnect = False
        self._last_frame = 0.0
        self._reader_waiting = False
        self._counter = BackoffCounter(options.backoff)

    @property
    def is_open(self) -> bool:
        """Whether a socket is connected right now."""
        return self._ws is not None

    @property
    def empty(self) -> bool:
        """Whether no channel is carried."""
        return not self._channels

    def listener_count(self) -> int:
        """How many application subscriptions this link carries."""
        return sum(len(entry.listeners) for entry in self._channels.values())

    async def subscribe(self, listener: Listener, timeout: float) -> None:
        """Add ``listener``; return once its channel is acknowledged.

        Raises :class:`SubscriptionRefused` when the gateway refuses the
        channel (the listener's ``on_error`` hears it too) and
        :class:`RoomUnavailable` when no acknowledgement comes within
        ``timeout`` seconds or the link is closed first. Either way the
        listener is removed again.
        """
        if self._closing:
            raise RoomUnavailable("connection is closed")
        entry = self._channels.get(listener.channel)
        if entry is None:
            entry = _Channel(listener.channel)
            entry.acked.add_done_callback(_retrieve)
            self._channels[entry.name] = entry
            entry.listeners.append(listener)
            self._start()
            if self._ws is not None:
                await self._send_subscribe(self._ws, entry)
        else:
            entry.listeners.append(listener)

        # A later listener of an acknowledged channel is served at once.
        if entry.acked.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(entry.acked), timeout)
        except TimeoutError:
            self.remove(listener)
            raise RoomUnavailable(
                f"subscription not acknowledged within {timeout:g}s"
            ) from None
        except BaseException:
            self.remove(listener)
            raise

    def remove(self, listener: Listener) -> None:
        """Remove ``listener``; the last one of a channel unsubscribes it."""
        listener.active = False
        entry = self._channels.get(listener.channel)
        if entry is None or listener not in entry.listeners:
            return
        entry.listeners.remove(listener)
        if entry.listeners:
            return
        self._drop(entry)
        ws = self._ws
        if ws is not None:
            frame = {"type": "remult:unsubscribe", "channel": entry.name}
            self._spawn(self._send(ws, frame))

    async def close(self) -> None:
        """End the link: close its socket and fail subscribes still waiting."""
        self._closing = True
        for entry in list(self._channels.values()):
            _fail(entry, RoomUnavailable("connection closed"))
        self._channels.clear()
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(WebSocketException, OSError):
                await asyncio.wait_for(ws.close(CLOSE_NORMAL), 1.0)
        for task in [self._task, *self._tasks]:
            if task is not None:
                task.cancel()
        await asyncio.gather(
            *(t for t in [self._task, *self._tasks] if t is not None),
            return_exceptions=True,
        )

    # -- the socket's life ---------------------------------------------------

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"partyray-link-{self.key}"
            )

    async def _run(self) -> None:
        while not self._closing and self._channels:
            ws = await self._connect()
            if ws is None:
                await asyncio.sleep(self._counter.next_delay())
                continue
            await self._serve(ws)
            if self._closing or not self._channels:
                break
            await asyncio.sleep(self._counter.next_delay())

        # A link left without channels after a lost socket just ends.
        if not self._closing and not self._channels:
            self._owner.link_empty(self)

    async def _connect(self) -> ClientConnection | None:
        """One connection attempt; ``None`` after logging why it failed."""
        try:
            url = await self._url()
            return await connect(
                url,
                open_timeout=self._options.connect_timeout,
                ping_interval=None,
                close_timeout=1.0,
                max_size=self._options.max_frame,
                proxy=None,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            logger.warning("link %s: handshake refused with http %d", self.key, status)
            if status in _UNAUTHORIZED_STATUSES:
                refusal = SubscriptionRefused(
                    f"handshake refused with http {status}", "unauthorized"
                )
                for entry in list(self._channels.values()):
                    if not entry.acked.done():
                        self._refuse(entry, refusal)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.info("link %s: connect failed: %r", self.key, exc)
        return None

    async def _url(self) -> str:
        params = dict(self._params)
        token = self._options.token
        if callable(token):
            produced = token()
            token = await produced if inspect.isawaitable(produced) else produced
        if token is not None:
            params["token"] = str(token)
        query = f"?{urlencode(params)}" if params else ""
        return f"{self._options.ws_base}{self._path}{query}"

    async def _serve(self, ws: ClientConnection) -> None:
        """Carry the channels over ``ws`` until it is lost or closed."""
        loop = asyncio.get_running_loop()
        self._ws = ws
        self._last_frame = loop.time()
        self._round = set(self._channels)
        self._round_lost = False
        self._round_reconnect = self._served
        if self._served:
            self._owner.counters.reconnects += 1
        self._served = True
        heartbeat = loop.create_task(self._heartbeat(ws))
        logger.debug("link %s: open, %d channels", self.key, len(self._round))
        try:
            # Re-subscribe everything carried; a first connect sends the
            # subscribes that waited for the socket.
            for entry in list(self._channels.values()):
                if self._channels.get(entry.name) is entry:
                    await self._send_subscribe(ws, entry)
            self._check_round()
            async for message in ws:
                self._last_frame = loop.time()
                if isinstance(message, str):
                    await self._on_text(ws, message)
        except ConnectionClosed as exc:
            logger.info("link %s: socket lost: %s", self.key, exc)
        except OSError as exc:
            logger.info("link %s: socket lost: %r", self.key, exc)
        finally:
            heartbeat.cancel()
            self._ws = None
            for entry in self._channels.values():
                entry.sequence.socket_lost()

    async def _heartbeat(self, ws: ClientConnection) -> None:
        """Ping after a quiet interval; abort the socket when the ping goes unheard."""
        loop = asyncio.get_running_loop()
        interval = self._options.heartbeat
        timeout = self._options.heartbeat_timeout
        while True:
            quiet = loop.time() - self._last_frame
            if quiet < interval:
                await asyncio.sleep(interval - quiet)
                continue
            sent_at = loop.time()
            try:
                await ws.send("ping")
            except ConnectionClosed:
                return
            await asyncio.sleep(timeout)

            # A reader held up by the application's queue has not read the
            # pong yet; that is not the socket's fault.
            if self._last_frame < sent_at and not self._reader_waiting:
                logger.warning(
                    "link %s: no frame for %.1fs after ping; reconnecting",
                    self.key,
                    loop.time() - sent_at,
                )
                ws.transport.abort()
                return

    # -- frames ----------------------------------------------------------------

    async def _on_text(self, ws: ClientConnection, text: str) -> None:
        try:
            frame = orjson.loads(text)
        except orjson.JSONDecodeError:
            logger.warning("link %s: frame is not JSON: %.80r", self.key, text)
            return
        if not isinstance(frame, dict):
            logger.warning("link %s: frame is not an object: %.80r", self.key, text)
            return
        kind = frame.get("type")
        channel = frame.get("channel")
        entry = self._channels.get(channel) if isinstance(channel, str) else None
        if kind == "data" and entry is not None:
            await self._on_data(ws, entry, frame)
        elif kind == "connected" and entry is not None:
            self._on_ack(entry, frame)
        elif kind == "error":
            await self._on_error(ws, entry, frame)

    async def _on_data(
        self, ws: ClientConnection, entry: _Channel, frame: dict[str, Any]
    ) -> None:
        data = frame["data"] if "data" in frame else frame.get("payload")
        seq = frame.get("seq")
        counters = self._owner.counters
        # Without a seq nothing can be checked; it is handed on as it came.
        verdict = Verdict.DELIVER
        if isinstance(seq, int):
            verdict = entry.sequence.on_data(seq)
        if verdict is Verdict.DELIVER:
            self._reader_waiting = True
            try:
                await self._owner.deliver(self, list(entry.listeners), data)
            finally:
                self._reader_waiting = False
        elif verdict is Verdict.LOST:
            counters.recoveries_failed += 1
            logger.warning(
                "link %s: replay of %r broke off before seq %d; reporting a loss",
                self.key,
                entry.name,
                seq,
            )
            self._owner.recovery_finished(self, reconnect=False, lost=True)
            await self._owner.deliver(self, list(entry.listeners), data)
        elif verdict is Verdict.DUPLICATE:
            counters.duplicates_dropped += 1
        elif verdict is Verdict.GAP:
            counters.gaps_detected += 1
            logger.info(
                "link %s: gap on %r: seq %d after %s",
                self.key,
                entry.name,
                seq,
                entry.sequence.last,
            )
            await self._send_subscribe(ws, entry)

    def _on_ack(self, entry: _Channel, frame: dict[str, Any]) -> None:
        payload = frame.get("payload")
        if not isinstance(payload, dict) or not payload.get("subscribed"):
            return
        seq = payload.get("seq")
        epoch = payload.get("epoch")
        was_pending = entry.sequence.pending
        had_history = entry.sequence.last is not None
        continuous = entry.sequence.on_ack(
            seq if isinstance(seq, int) else 0,
            bool(payload.get("recovered", True)),
            epoch if isinstance(epoch, str) else None,
        )
        entry.retries = None
        if not entry.acked.done():
            entry.acked.set_result(None)
        if not continuous:
            self._owner.counters.recoveries_failed += 1
            logger.info("link %s: %r not recovered", self.key, entry.name)

        # An answer within a reconnect round counts towards it; any other
        # answer after a gap, or unasked after a room restart, stands alone.
        if entry.name in self._round:
            self._round.discard(entry.name)
            self._round_lost = self._round_lost or not continuous
            self._check_round()
        elif had_history and (was_pending or not continuous):
            self._owner.recovery_finished(self, reconnect=False, lost=not continuous)

    async def _on_error(
        self, ws: ClientConnection, entry: _Channel | None, frame: dict[str, Any]
    ) -> None:
        reason = str(frame.get("error") or "error")
        code = str(frame.get("code") or "error")
        if entry is None:
            logger.warning(
                "link %s: error %s on %r: %s",
                self.key,
                code,
                frame.get("channel"),
                reason,
            )
            return
        refusal = SubscriptionRefused(reason, code)
        if not entry.sequence.pending:
            self._owner.report_error(list(entry.listeners), refusal)
            return

        # A room that could not be reached is asked again after a backoff.
        if code in _RETRYABLE_CODES:
            if entry.retries is None:
                entry.retries = BackoffCounter(self._options.backoff)
            delay = entry.retries.next_delay()
            logger.info(
                "link %s: %r %s; retrying in %.2fs", self.key, entry.name, code, delay
            )
            self._spawn(self._resubscribe_later(ws, entry, delay))
            return
        logger.info("link %s: %r refused: %s (%s)", self.key, entry.name, reason, code)
        self._refuse(entry, refusal)

    async def _resubscribe_later(
        self, ws: ClientConnection, entry: _Channel, delay: float
    ) -> None:
        await asyncio.sleep(delay)
        if self._ws is ws and self._channels.get(entry.name) is entry:
            await self._send_subscribe(ws, entry)

    # -- helpers -----------------------------------------------------------------

    def _check_round(self) -> None:
        """Report a finished reconnect round once every answer is in."""
        if self._round or self._ws is None:
            return
        self._counter.reset()
        if self._round_reconnect:
            self._round_reconnect = False
            self._owner.recovery_finished(self, reconnect=True, lost=self._round_lost)

    def _refuse(self, entry: _Channel, refusal: SubscriptionRefused) -> None:
        """End a channel the gateway will not carry, telling its listeners."""
        listeners = list(entry.listeners)
        _fail(entry, refusal)
        for listener in listeners:
            listener.active = False
        self._owner.report_error(listeners, refusal)
        entry.listeners.clear()
        self._drop(entry)

    def _drop(self, entry: _Channel) -> None:
        if self._channels.get(entry.name) is entry:
            del self._channels[entry.name]
        if entry.name in self._round:
            self._round.discard(entry.name)
            self._check_round()
        if not self._channels:
            self._owner.link_empty(self)

    async def _send_subscribe(self, ws: ClientConnection, entry: _Channel) -> None:
        since = entry.sequence.request()
        frame: dict[str, Any] = {"type": "remult:subscribe", "channel": entry.name}
        if since is not None:
            frame["since"] = since
            if entry.sequence.epoch is not None:
                frame["epoch"] = entry.sequence.epoch
        await self._send(ws, frame)

    async def _send(self, ws: ClientConnection, frame: dict[str, Any]) -> None:
        # A send on a lost socket is not an error: the reconnect re-sends
        # every subscribe that still matters.
        with contextlib.suppress(ConnectionClosed):
            await ws.send(orjson.dumps(frame).decode())

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _fail(entry: _Channel, error: BaseException) -> None:
    if not entry.acked.done():
        entry.acked.set_exception(error)


def _retrieve(future: asyncio.Future[None]) -> None:
    # Mark the outcome as seen: a refusal may have no awaiting subscriber.
    if not future.cancelled():
        future.exception()
