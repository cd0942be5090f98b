"""What the harness needs from a target: start it, know its URLs, stop it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from benchmarks.targets.process import ServerProcess

__all__ = ["Endpoint", "Target", "TargetUnavailable"]


class TargetUnavailable(RuntimeError):
    """A target cannot run on this machine; the message says why."""


@dataclass(frozen=True)
class Endpoint:
    """Where a started target listens and how it takes publishes.

    Every target listens on 127.0.0.1 at ``port``, WebSockets at ``/ws``.
    ``http_publish`` is true when ``POST /publish`` with ``token`` works; the
    ``publish`` scenario falls back to WebSocket frames otherwise.
    ``auth_secret`` is set when connections must carry a signed identity.
    """

    name: str
    port: int
    token: str
    http_publish: bool
    supports_since: bool
    auth_secret: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Target(Protocol):
    """A server under test."""

    name: str

    def unavailable_reason(self) -> str | None:
        """Why this target cannot run here, or ``None`` when it can."""
        ...

    def start(self, workdir: Path) -> Endpoint:
        """Start the servers and wait until they answer; raise on failure."""
        ...

    def processes(self) -> list[ServerProcess]:
        """The started server processes, each the root of a tree to measure."""
        ...

    def stop(self) -> None:
        """Stop every server process and its descendants."""
        ...
