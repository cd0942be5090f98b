"""The public surface of each package is what we meant, and nothing more."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

EXPECTED = {
    "partyray.actors": {
        "DEFAULT_NAMESPACE",
        "DEFAULT_OUTBOX_LIMIT",
        "Delivery",
        "DirectoryConfig",
        "HostRef",
        "HostStatistics",
        "Message",
        "Outbox",
        "PublishItem",
        "PublishOutcome",
        "Room",
        "RoomConfig",
        "RoomDirectory",
        "RoomHost",
        "RoomHostCore",
        "RoomStatistics",
        "SubscribeResult",
        "SubscriberId",
        "SubscriptionCheck",
        "allow_all",
        "channel_owner",
        "encode_data_frame",
        "shard_for",
        "users_own_channels",
    },
    "partyray.gateway": {
        "ClientStatistics",
        "CloseCode",
        "Connection",
        "ErrorCode",
        "GatewayConfig",
        "GatewayGroup",
        "GatewayStatistics",
        "HS256Verifier",
        "HttpPublisher",
        "InvalidToken",
        "Limits",
        "Publisher",
        "RayPublisher",
        "SubscriptionClient",
        "TokenVerifier",
        "free_port",
        "issue_token",
    },
}


@pytest.mark.parametrize("module", sorted(EXPECTED))
def test_public_names(module: str) -> None:
    """__all__ lists exactly the intended names, and each one exists."""
    imported = importlib.import_module(module)
    assert set(imported.__all__) == EXPECTED[module]
    for name in imported.__all__:
        assert hasattr(imported, name), name


def test_importing_starts_nothing() -> None:
    """Importing the packages does no work: Ray is not initialised by it."""
    code = (
        "import partyray.actors, partyray.gateway, partyray.partitioning, ray; "
        "assert not ray.is_initialized()"
    )
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0
