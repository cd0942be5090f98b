"""Publishers: put messages on channels, shaped like Remult's ``publishMessage``.

Two transports share one contract:

* :class:`HttpPublisher` posts to a gateway's ``POST /publish``, from anywhere;
* :class:`RayPublisher` calls the rooms through a
  :class:`~partyray.actors.RoomDirectory`, from inside the Ray cluster.

Every message carries an id (a uuid4 hex unless the caller gives one). A
publish that fails in a way worth retrying (no answer in time, a connection
error, HTTP 5xx, a room that cannot be reached) is sent again with the same
ids, at most ``attempts`` times in all with jittered backoff between tries;
the room de-duplicates by id, so a message whose first attempt did land is
delivered once and answers with the seq it got then. What still fails raises
:class:`~partyray.partitioning.errors.PublishError`, its ``__cause__`` the
last failure. A refusal that no retry can change (HTTP 400, 401, 413, a
channel no partition rule maps) raises :class:`PublishError` at once.

Limits: a batch is sent as one request and stands or falls as a whole; the
gateway caps a request body at 1 MiB (HTTP 413). De-duplication lasts as long
as the room's window of remembered ids.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

import httpx
import orjson

from partyray.partitioning.errors import PartitionError, PublishError

from ._client_backoff import Backoff, BackoffCounter

__all__ = [
    "HttpPublisher",
    "MessageSpec",
    "PublishError",
    "Publisher",
    "RayPublisher",
]

logger = logging.getLogger("partyray.publisher")

#: One message of a batch: ``(channel, data)`` or a mapping with ``channel``,
#: ``data`` and optionally ``id``.
MessageSpec = tuple[str, Any] | Mapping[str, Any]

_Self = TypeVar("_Self", bound="_Retrying")

#: HTTP statuses that a retry may cure.
_RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class Publisher(Protocol):
    """What both publishers offer."""

    async def publish(self, channel: str, data: Any, *, id: str | None = None) -> int:
        """Publish one message; return its seq on the channel."""
        ...

    async def publish_many(self, messages: Iterable[MessageSpec]) -> list[int]:
        """Publish a batch; return the seqs in the batch's order."""
        ...

    async def aclose(self) -> None:
        """Release what the publisher holds."""
        ...


class _Retrying:
    """The id assignment and retry loop both publishers share."""

    def __init__(self, *, attempts: int, timeout: float, backoff: Backoff) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        if not timeout > 0:
            raise ValueError("timeout must be positive")
        self.attempts = attempts
        self.timeout = timeout
        self.backoff = backoff

    async def publish(self, channel: str, data: Any, *, id: str | None = None) -> int:
        """Publish ``data`` on ``channel``; return its seq.

        Raises :class:`PublishError` once the retries are used up.
        """
        message: dict[str, Any] = {"channel": channel, "data": data}
        if id is not None:
            message["id"] = id
        (seq,) = await self.publish_many([message])
        return seq

    async def publish_many(self, messages: Iterable[MessageSpec]) -> list[int]:
        """Publish every message in one request; return their seqs in order.

        Raises :class:`ValueError` for a malformed message, before sending.
        """
        batch = [_normalise(message) for message in messages]
        if not batch:
            return []
        counter = BackoffCounter(self.backoff)
        attempt = 0
        while True:
            attempt += 1
            try:
                seqs = await asyncio.wait_for(self._send(batch), self.timeout)
            except _Permanent as exc:
                raise PublishError(f"publish refused: {exc}") from exc.__cause__
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if attempt >= self.attempts:
                    raise PublishError(
                        f"publish failed after {attempt} attempts: {exc!r}"
                    ) from exc
                delay = counter.next_delay()
                logger.info(
                    "publish attempt %d of %d failed (%r); retrying in %.2fs",
                    attempt,
                    self.attempts,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            if len(seqs) != len(batch):
                raise PublishError(
                    f"publish answered {len(seqs)} seqs for {len(batch)} messages"
                )
            return seqs

    async def _send(self, batch: list[dict[str, Any]]) -> list[int]:
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release what the publisher holds (nothing by default)."""

    async def __aenter__(self: _Self) -> _Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class HttpPublisher(_Retrying):
    """Publishes through a gateway's ``POST /publish``.

    ``url`` is the gateway's ``http(s)://`` base and ``token`` its publish
    token, sent as ``Authorization: Bearer``. ``timeout`` bounds each
    attempt; pass ``client`` to share an :class:`httpx.AsyncClient` (it is
    then not closed by :meth:`aclose`).
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        attempts: int = 4,
        timeout: float = 5.0,
        backoff: Backoff | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            attempts=attempts, timeout=timeout, backoff=backoff or Backoff(0.1, 2.0)
        )
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"publish url must be http(s)://, not {url!r}")
        self.endpoint = url.rstrip("/") + "/publish"
        self._headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
        }
        self._own_client = client is None
        self._client = client or httpx.AsyncClient()

    async def _send(self, batch: list[dict[str, Any]]) -> list[int]:
        response = await self._client.post(
            self.endpoint,
            content=orjson.dumps({"messages": batch}),
            headers=self._headers,
            timeout=self.timeout,
        )
        if response.status_code != httpx.codes.OK:
            failure = httpx.HTTPStatusError(
                f"http {response.status_code}: {_error_text(response)}",
                request=response.request,
                response=response,
            )
            if response.status_code in _RETRYABLE_STATUSES:
                raise failure
            raise _Permanent(str(failure)) from failure
        try:
            seqs = response.json().get("seqs")
        except (ValueError, AttributeError):
            seqs = None
        if not isinstance(seqs, list) or not all(isinstance(s, int) for s in seqs):
            raise _Permanent(f"answer without seqs: {response.text[:80]!r}")
        return seqs

    async def aclose(self) -> None:
        """Close the HTTP client, unless it was passed in."""
        if self._own_client:
            await self._client.aclose()


class RayPublisher(_Retrying):
    """Publishes straight to the rooms, through a room directory.

    For code running inside the Ray cluster: no gateway and no token. The
    directory resolves each channel's room with its partition strategy and
    groups the batch by host. ``timeout`` bounds each attempt.
    """

    def __init__(
        self,
        directory: Any,
        *,
        attempts: int = 4,
        timeout: float = 10.0,
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__(
            attempts=attempts, timeout=timeout, backoff=backoff or Backoff(0.1, 2.0)
        )
        self.directory = directory

    async def _send(self, batch: list[dict[str, Any]]) -> list[int]:
        from partyray.actors import PublishItem

        items = [PublishItem(m["channel"], m["data"], m["id"]) for m in batch]
        try:
            seqs = await self.directory.publish(items)
        except PartitionError as exc:
            raise _Permanent(str(exc)) from exc
        return list(seqs)


class _Permanent(Exception):
    """A failure no retry can cure; carries its cause."""


def _normalise(message: MessageSpec) -> dict[str, Any]:
    """``{"channel", "data", "id"}`` for one message, with an id assigned."""
    if isinstance(message, Mapping):
        if "channel" not in message or "data" not in message:
            raise ValueError("message needs a channel and data")
        channel = message["channel"]
        data = message["data"]
        id = message.get("id")
    elif isinstance(message, Sequence) and len(message) == 2:
        channel, data = message
        id = None
    else:
        raise ValueError(f"message must be (channel, data) or a mapping: {message!r}")
    if not isinstance(channel, str) or not channel:
        raise ValueError("message channel must be a non-empty string")
    if id is not None and (not isinstance(id, str) or not id):
        raise ValueError("message id must be a non-empty string")
    return {"channel": channel, "data": data, "id": id or uuid.uuid4().hex}


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:120]
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    return response.text[:120]
