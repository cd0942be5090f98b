"""Fixtures for gateway tests: a real gateway group on the session's Ray."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from gateway_kit import gateway_config

from partyray.gateway import GatewayGroup


@pytest.fixture(scope="module")
def gateway(ray_cluster: None) -> Iterator[GatewayGroup]:
    """Two gateway shards on one port, for a whole test module."""
    group = GatewayGroup.start(gateway_config(), count=2)
    try:
        yield group
    finally:
        group.stop()
