"""Links: one direct stream between a process and a room host, beside Ray.

A Ray actor call costs a fixed few hundred microseconds of CPU across the two
processes, whatever it carries. On the hot paths (publishes into a host, and
deliveries out of it to each gateway) that cost is paid for every few
messages. A link is a TCP connection that a directory opens to a host on first
use and keeps: publishes go over it and their seqs come back over it, and when
the directory belongs to a gateway the host writes that gateway's deliveries to
it instead of calling ``deliver``.

Ray stays the control path. Hosts are found, created, placed, restarted and
subscribed to through Ray, and a link is only ever a shortcut: while none is
open, and whenever one breaks, calls go through Ray as before. The host gives
out its link address together with a secret (``RoomHost.link``), and the first
frame on a connection must carry that secret or the connection is closed.

Frames are msgpack values written back to back (the unpacker finds their
boundaries), each a list whose first item is its kind:

===========  =========  ===============================================
kind         direction  items
===========  =========  ===============================================
HELLO        to host    secret, subscriber id or ``None``
PUBLISH      to host    request id, list of publish requests
UNSUBSCRIBE  to host    room, channel, subscriber, connections
SUBSCRIBE    to host    request id, list of subscribe requests
RESULT       to caller  request id, host incarnation, list of seqs
SUBSCRIBED   to caller  request id, host incarnation, list of answers
FAILURE      to caller  request id, error class name, error arguments
DELIVER      to caller  host name, incarnation, list of deliveries
===========  =========  ===============================================

UNSUBSCRIBE has no answer. A subscribe request is ``(room, channel,
subscriber, principal, since, epoch)``, as for ``RoomHost.subscribe_many``,
but carries no actor handle: the host must hold the subscriber's from an
earlier subscription through Ray, or it answers with a FAILURE naming
``LinkError`` and the caller goes through Ray. An answer is ``[0, seq,
recovered, epoch, missed]`` or, for a refusal, ``[1, reason, code]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import itertools
import logging
import secrets
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

import msgpack

from partyray.partitioning import errors

if TYPE_CHECKING:
    from .host import PublishRequest, RoomHostCore
    from .outbox import Delivery
    from .room import SubscribeResult

__all__ = ["MAX_LINK_FRAME", "HostLink", "LinkClosed", "LinkError", "LinkServer"]

logger = logging.getLogger("partyray.link")

HELLO, PUBLISH, RESULT, FAILURE, DELIVER, UNSUBSCRIBE, SUBSCRIBE, SUBSCRIBED = range(8)

#: The largest frame a link carries; a larger batch goes through Ray instead.
MAX_LINK_FRAME = 32 * 1024 * 1024

#: What a connection may send, and how long it may take, before its hello.
HELLO_BYTES = 4096
HELLO_TIMEOUT = 5.0

#: Bytes a link may buffer unsent before its writer waits for the peer.
_HIGH_WATER = 1024 * 1024

#: Deliveries the host can hand over through a link, or their Ray twin.
DeliverCallback = Callable[[str, str, "list[Delivery]"], None]


class LinkError(ConnectionError):
    """A link cannot carry this frame; Ray can."""


class LinkClosed(LinkError):
    """The link is closed, or closed while a request was waiting on it."""


class _Framing(asyncio.Protocol):
    """msgpack frames in and out of one transport, with write back-pressure."""

    def __init__(self, *, use_list: bool) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._unpacker = msgpack.Unpacker(
            raw=False, use_list=use_list, max_buffer_size=MAX_LINK_FRAME
        )
        self._resumed: asyncio.Future[None] | None = None

    # -- asyncio.Protocol ------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but alike.
        stream = cast(asyncio.Transport, transport)
        stream.set_write_buffer_limits(high=_HIGH_WATER)
        self.transport = stream

    def data_received(self, data: bytes) -> None:
        try:
            self._unpacker.feed(data)
            for frame in self._unpacker:
                if self.closed:
                    return
                self.frame(frame)
        except Exception as error:
            # Whatever the peer sent cannot be trusted to be framed any more.
            logger.warning("%s: bad frame (%s): closing the link", self, error)
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._resumed is not None and not self._resumed.done():
            self._resumed.set_exception(LinkClosed("link closed"))
        self.lost()

    def pause_writing(self) -> None:
        if self._resumed is None or self._resumed.done():
            self._resumed = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._resumed is not None and not self._resumed.done():
            self._resumed.set_result(None)

    # -- for the two ends ------------------------------------------------

    def frame(self, frame: Any) -> None:
        raise NotImplementedError

    def lost(self) -> None:
        """Called once the connection is gone."""

    def send(self, frame: Any) -> None:
        """Write ``frame``, or raise :class:`LinkError` when this link can't."""
        if self.closed or self.transport is None or self.transport.is_closing():
            raise LinkClosed("link closed")
        try:
            data = msgpack.packb(frame, use_bin_type=True)
        except (TypeError, ValueError, OverflowError) as error:
            raise LinkError(f"not a link frame: {error}") from None
        if len(data) > MAX_LINK_FRAME:
            raise LinkError(f"a link frame of {len(data)} bytes is too large")
        self.transport.write(data)

    async def drain(self) -> None:
        """Wait while more than the high-water mark is buffered unsent."""
        resumed = self._resumed
        if resumed is not None and not resumed.done():
            await asyncio.shield(resumed)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            # Its event loop may be closed already, and the socket with it.
            with contextlib.suppress(RuntimeError):
                self.transport.close()


# -- the host's end --------------------------------------------------------


class LinkServer:
    """The host's listening end: accepts links and serves what comes over them."""

    def __init__(self, core: RoomHostCore) -> None:
        self.core = core
        self.secret = secrets.token_urlsafe(24)
        self.ends: set[HostEnd] = set()
        self._server: asyncio.Server | None = None
        self._address: tuple[str, int] | None = None

    async def start(self, host: str) -> tuple[str, int]:
        """Listen on ``host`` (a free port) once; return where."""
        if self._address is None:
            loop = asyncio.get_running_loop()
            server = await loop.create_server(lambda: HostEnd(self), host, 0)
            self._server = server
            name = server.sockets[0].getsockname()
            self._address = (str(name[0]), int(name[1]))
            logger.debug("%s: links on %s:%d", self.core.name, *self._address)
        return self._address

    def reset(self) -> int:
        """Draw a new secret and close every link; return how many were open."""
        self.secret = secrets.token_urlsafe(24)
        ends = list(self.ends)
        for end in ends:
            end.close()
        return len(ends)

    def close(self) -> None:
        if self._server is not None:
            self._server.close()


class HostEnd(_Framing):
    """One accepted link, in the host. Until it has greeted with the secret,
    a connection may send at most ``HELLO_BYTES`` and take at most
    ``HELLO_TIMEOUT`` seconds."""

    def __init__(self, server: LinkServer) -> None:
        super().__init__(use_list=True)
        self._server = server
        self._core = server.core
        self.subscriber: str | None = None
        self._greeted = False
        self._unverified = 0
        self._deadline: asyncio.TimerHandle | None = None

    def __str__(self) -> str:
        return f"link of {self._core.name} to {self.subscriber or 'a publisher'}"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._server.ends.add(self)
        self._deadline = asyncio.get_running_loop().call_later(
            HELLO_TIMEOUT, self._too_slow
        )

    def _too_slow(self) -> None:
        if not self._greeted:
            logger.warning("%s: link not greeted in time: closed", self._core.name)
            self.close()

    def data_received(self, data: bytes) -> None:
        if not self._greeted:
            self._unverified += len(data)
            if self._unverified > HELLO_BYTES:
                logger.warning("%s: link without the secret: closed", self._core.name)
                self.close()
                return
        super().data_received(data)

    def frame(self, frame: Any) -> None:
        if not self._greeted:
            if not (
                isinstance(frame, list)
                and len(frame) == 3
                and frame[0] == HELLO
                and isinstance(frame[1], str)
                and hmac.compare_digest(frame[1], self._server.secret)
                and (frame[2] is None or isinstance(frame[2], str))
            ):
                logger.warning("%s: link without the secret: closed", self._core.name)
                self.close()
                return
            self._greeted = True
            if self._deadline is not None:
                self._deadline.cancel()
            self.subscriber = frame[2]
            if self.subscriber is not None:
                self._core.attach_link(self.subscriber, self)
            return
        kind = frame[0]
        if kind == UNSUBSCRIBE:
            _, room, channel, subscriber, connections = frame
            self._core.unsubscribe(room, channel, subscriber, connections)
            return
        if kind == SUBSCRIBE:
            self._subscribe(frame[1], frame[2])
            return
        if kind != PUBLISH:
            raise ValueError(f"unknown link frame kind {kind!r}")
        _, request_id, requests = frame
        try:
            seqs = self._core.publish(requests)
        except errors.PartyrayError as error:
            self.send([FAILURE, request_id, type(error).__name__, list(error.args)])
        except Exception as error:
            # The same error a Ray call would have raised, by name and text.
            logger.warning("%s: publish failed: %r", self._core.name, error)
            self.send([FAILURE, request_id, type(error).__name__, [str(error)]])
        else:
            self.send([RESULT, request_id, self._core.incarnation, seqs])

    def _subscribe(self, request_id: int, requests: list[Any]) -> None:
        try:
            results = self._core.subscribe_many(requests)
        except LinkError as error:
            self.send([FAILURE, request_id, "LinkError", [str(error)]])
            return
        answers = [
            [1, result.reason, result.code]
            if isinstance(result, errors.SubscriptionRefused)
            else [
                0,
                result.seq,
                result.recovered,
                result.epoch,
                [[m.channel, m.seq, m.frame] for m in result.missed],
            ]
            for result in results
        ]
        self.send([SUBSCRIBED, request_id, self._core.incarnation, answers])

    def lost(self) -> None:
        self._server.ends.discard(self)
        if self._deadline is not None:
            self._deadline.cancel()
        if self.subscriber is not None:
            self._core.detach_link(self.subscriber, self)

    async def deliver(self, host: str, incarnation: str, batch: list[Delivery]) -> None:
        """Write one batch of deliveries; wait while the gateway is behind."""
        self.send([DELIVER, host, incarnation, batch])
        await self.drain()


# -- the caller's end ------------------------------------------------------


class HostLink(_Framing):
    """A process's link to one host: publishes out, seqs and deliveries in.

    Open with :meth:`open`. ``on_deliver`` receives the deliveries the host
    writes to this link (only when ``subscriber`` was given).
    """

    def __init__(self, host: str, on_deliver: DeliverCallback | None) -> None:
        super().__init__(use_list=False)
        self.host = host
        self.loop = asyncio.get_running_loop()
        self._on_deliver = on_deliver
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self.publishes = 0
        self.subscriptions = 0

    def __str__(self) -> str:
        return f"link to {self.host}"

    @classmethod
    async def open(
        cls,
        host: str,
        address: tuple[str, int],
        secret: str,
        subscriber: str | None = None,
        on_deliver: DeliverCallback | None = None,
        timeout: float = 5.0,
    ) -> HostLink:
        """Connect to ``address`` and greet the host with ``secret``."""
        loop = asyncio.get_running_loop()
        _, link = await asyncio.wait_for(
            loop.create_connection(lambda: cls(host, on_deliver), *address), timeout
        )
        link.send([HELLO, secret, subscriber])
        return link

    async def publish(
        self, requests: Sequence[PublishRequest]
    ) -> tuple[str, list[int]]:
        """Publish ``requests`` in the host; return its incarnation and the seqs.

        Raises :class:`LinkClosed` when the link is or goes down before the
        answer (whether the host published is then unknown, as with a Ray call
        to a host that died), and the host's error when it refused.
        """
        self.publishes += 1
        incarnation, seqs = await self._request(PUBLISH, list(requests))
        return incarnation, list(seqs)

    async def subscribe(
        self, requests: Sequence[tuple[Any, ...]]
    ) -> tuple[str, list[SubscribeResult | errors.SubscriptionRefused]]:
        """Register subscriptions whose subscriber the host already knows.

        Each request is ``(room, channel, subscriber, principal, since,
        epoch)``. Raises :class:`LinkError` when the host holds no handle for
        a subscriber of the batch (subscribe through Ray then) or the link
        goes down before the answer.
        """
        self.subscriptions += len(requests)
        incarnation, answers = await self._request(SUBSCRIBE, list(requests))
        return incarnation, [_answer(a) for a in answers]

    async def _request(self, kind: int, body: list[Any]) -> tuple[str, Any]:
        request_id = next(self._ids)
        future: asyncio.Future[tuple[str, Any]]
        future = asyncio.get_running_loop().create_future()
        self.send([kind, request_id, body])
        self._waiting[request_id] = future
        try:
            await self.drain()
            return await future
        finally:
            self._waiting.pop(request_id, None)

    def unsubscribe(
        self, room: str, channel: str, subscriber: str, connections: int
    ) -> None:
        """Take connections of ``subscriber`` off ``channel``; nothing answers.

        Sent after the subscription's answer came back, so it cannot overtake
        the subscription it ends, whichever way that went.
        """
        self.send([UNSUBSCRIBE, room, channel, subscriber, connections])

    def frame(self, frame: Any) -> None:
        kind = frame[0]
        if kind == DELIVER:
            if self._on_deliver is not None:
                self._on_deliver(frame[1], frame[2], list(frame[3]))
            return
        future = self._waiting.get(frame[1])
        if future is None or future.done():
            return
        if kind in (RESULT, SUBSCRIBED):
            future.set_result((frame[2], frame[3]))
        elif kind == FAILURE:
            future.set_exception(_rebuild(frame[2], frame[3]))
        else:
            raise ValueError(f"unknown link frame kind {kind!r}")

    def lost(self) -> None:
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(LinkClosed(f"link to {self.host} closed"))
        logger.debug("link to %s closed", self.host)


def _answer(answer: Sequence[Any]) -> SubscribeResult | errors.SubscriptionRefused:
    from .room import Message, SubscribeResult

    if answer[0] == 1:
        return errors.SubscriptionRefused(answer[1], answer[2])
    _, seq, recovered, epoch, missed = answer
    return SubscribeResult(
        seq, recovered, epoch, tuple(Message(c, n, f) for c, n, f in missed)
    )


def _rebuild(name: str, args: Sequence[Any]) -> BaseException:
    # A partyray error comes back as itself; anything else as a PublishError
    # that names it. LinkError means "ask through Ray instead".
    if name == "LinkError":
        return LinkError(*args)
    cls = getattr(errors, name, None)
    if isinstance(cls, type) and issubclass(cls, errors.PartyrayError):
        try:
            return cls(*args)
        except TypeError:
            pass
    return errors.PublishError(f"{name}: {', '.join(map(str, args))}")
