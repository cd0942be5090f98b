"""Shared fixtures: one local Ray cluster for the whole test session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# Keep Ray quiet and light for tests: no dashboard, no usage stats, no token
# files written into the user's home, and few prestarted workers.
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
    """A local Ray cluster, started once for the session and shut down after it."""
    import ray

    ray.init(
        num_cpus=2,
        include_dashboard=False,
        namespace="partyray-tests",
        log_to_driver=False,
        configure_logging=False,
    )
    try:
        yield
    finally:
        ray.shutdown()
