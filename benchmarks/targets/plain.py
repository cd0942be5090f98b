"""The ``plain`` target: :mod:`benchmarks.baselines.plain_server` in a subprocess."""

from __future__ import annotations

import sys
from pathlib import Path

from benchmarks.targets.base import Endpoint
from benchmarks.targets.process import ServerProcess, free_port

__all__ = ["PlainTarget"]

_REPO = Path(__file__).resolve().parents[2]


class PlainTarget:
    """One websockets process with rooms; no actors, no partitioning, no history."""

    name = "plain"

    def __init__(self) -> None:
        self._server: ServerProcess | None = None

    def unavailable_reason(self) -> str | None:
        """Always available: it needs only websockets."""
        return None

    def start(self, workdir: Path) -> Endpoint:
        """Start the server on a free port and wait for ``/health``."""
        port = free_port()
        argv = [sys.executable, "-m", "benchmarks.baselines.plain_server"]
        argv += ["--host", "127.0.0.1", "--port", str(port)]
        self._server = ServerProcess("plain", argv, workdir / "plain.log", cwd=_REPO)
        self._server.start()
        self._server.wait_ready(port, timeout=30)
        return Endpoint(
            name=self.name,
            port=port,
            token="",
            http_publish=False,
            supports_since=False,
            notes=("publishes arrive as WebSocket frames (no HTTP publish)",),
        )

    def processes(self) -> list[ServerProcess]:
        """The one server process."""
        return [self._server] if self._server else []

    def stop(self) -> None:
        """Stop the server process group."""
        if self._server is not None:
            self._server.stop()
            self._server = None
