"""The HTTP publisher's contract against a scripted /publish endpoint."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from partyray.gateway.client import Backoff
from partyray.gateway.publisher import HttpPublisher, PublishError

Handler = Callable[[httpx.Request], httpx.Response]


def publisher(handler: Handler, **options: Any) -> HttpPublisher:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    options.setdefault("backoff", Backoff(0.001, 0.002))
    return HttpPublisher("http://gw", "t", client=client, **options)


def answer(request: httpx.Request) -> httpx.Response:
    batch = json.loads(request.content)["messages"]
    return httpx.Response(200, json={"seqs": list(range(1, len(batch) + 1))})


async def test_publish_posts_with_bearer_and_ids() -> None:
    """A message goes out with the token and a generated uuid4 hex id."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer(request)

    assert await publisher(handler).publish("c", {"x": 1}) == 1
    (request,) = seen
    assert request.url.path == "/publish"
    assert request.headers["authorization"] == "Bearer t"
    (message,) = json.loads(request.content)["messages"]
    assert message["channel"] == "c" and message["data"] == {"x": 1}
    assert len(message["id"]) == 32 and int(message["id"], 16) >= 0


async def test_publish_many_accepts_pairs_and_mappings() -> None:
    """Both batch shapes work; seqs come back in order; given ids are kept."""
    bodies: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return answer(request)

    seqs = await publisher(handler).publish_many(
        [("a", 1), {"channel": "b", "data": 2, "id": "m-2"}]
    )
    assert seqs == [1, 2]
    assert bodies[0]["messages"][1]["id"] == "m-2"
    assert await publisher(handler).publish_many([]) == []


async def test_failed_attempt_is_retried_with_the_same_ids() -> None:
    """A 503 is retried; every attempt carries the same message ids."""
    ids: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        ids.append(json.loads(request.content)["messages"][0]["id"])
        if len(ids) < 3:
            return httpx.Response(503, json={"error": "room unavailable"})
        return answer(request)

    assert await publisher(handler).publish("c", 1) == 1
    assert len(ids) == 3 and len(set(ids)) == 1


async def test_retries_exhausted_raise_publish_error_with_cause() -> None:
    """After the last attempt the failure surfaces, its cause attached."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(PublishError, match="after 3 attempts") as caught:
        await publisher(handler, attempts=3).publish("c", 1)
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


@pytest.mark.parametrize("status", [400, 401, 413])
async def test_refusals_are_not_retried(status: int) -> None:
    """A status no retry can change raises at once, naming the answer."""
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(status)
        return httpx.Response(status, json={"error": "no"})

    with pytest.raises(PublishError, match=f"http {status}: no") as caught:
        await publisher(handler).publish("c", 1)
    assert calls == [status]
    assert isinstance(caught.value.__cause__, httpx.HTTPStatusError)


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (("", 1), "non-empty string"),
        ({"data": 1}, "needs a channel and data"),
        ({"channel": "c", "data": 1, "id": 5}, "id must be"),
        ("c", "must be"),
    ],
)
async def test_malformed_messages_raise_before_sending(
    message: Any, error: str
) -> None:
    """Bad input is the caller's error: ValueError, nothing sent."""
    with pytest.raises(ValueError, match=error):
        await publisher(answer).publish_many([message])
