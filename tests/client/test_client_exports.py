"""The public surface of the client and publisher modules is what we meant."""

from __future__ import annotations

import dataclasses

import pytest

from partyray.gateway import client, publisher


def test_client_exports() -> None:
    """The client module exports exactly its documented names."""
    assert sorted(client.__all__) == [
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
    for name in client.__all__:
        assert hasattr(client, name)


def test_publisher_exports() -> None:
    """The publisher module exports exactly its documented names."""
    assert sorted(publisher.__all__) == [
        "HttpPublisher",
        "MessageSpec",
        "PublishError",
        "Publisher",
        "RayPublisher",
    ]


def test_statistics_are_frozen() -> None:
    """A statistics snapshot cannot be changed after the fact."""
    snapshot = client.ClientStatistics()
    with pytest.raises(dataclasses.FrozenInstanceError):
        snapshot.reconnects = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"mode": "fanout"}, "mode must be one of"),
        ({"heartbeat": 0}, "heartbeat must be positive"),
        ({"grace": -1}, "grace must be positive"),
        ({"max_queue": 0}, "max_queue must be at least 1"),
    ],
)
def test_bad_client_options_are_refused(
    options: dict[str, object], message: str
) -> None:
    """Options that cannot work fail when the client is built."""
    with pytest.raises(ValueError, match=message):
        client.SubscriptionClient("http://h", **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("url", ["ftp://h", "h:80", "http://"])
def test_bad_urls_are_refused(url: str) -> None:
    """Only http(s) and ws(s) gateway URLs are accepted."""
    with pytest.raises(ValueError, match="gateway url must be"):
        client.SubscriptionClient(url)


def test_url_forms() -> None:
    """http becomes ws, https becomes wss, a path prefix is kept."""
    assert client._ws_base("https://h:1/api/") == "wss://h:1/api"
    assert client._ws_base("ws://h") == "ws://h"
