"""The ``partyray`` target: ``partyray serve`` with client publish allowed.

The server starts an embedded Ray; its system processes and workers are
descendants of the ``partyray serve`` process, so they are measured with it.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

from benchmarks.targets.base import Endpoint
from benchmarks.targets.process import ServerProcess, free_port

__all__ = ["PartyrayTarget"]


def _executable() -> str | None:
    beside = Path(sys.executable).with_name("partyray")
    if beside.exists():
        return str(beside)
    return shutil.which("partyray")


class PartyrayTarget:
    """``partyray serve --gateways G`` on a free port, ready at ``/health``."""

    name = "partyray"

    def __init__(self, gateways: int = 1, ready_timeout: float = 120.0) -> None:
        self.gateways = gateways
        self.ready_timeout = ready_timeout
        self._server: ServerProcess | None = None

    def unavailable_reason(self) -> str | None:
        """``None`` when ``partyray serve --help`` runs, else what went wrong."""
        exe = _executable()
        if exe is None:
            return "no partyray executable on PATH or beside the interpreter"
        try:
            done = subprocess.run(
                [exe, "serve", "--help"], capture_output=True, timeout=60, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"partyray serve --help failed: {exc}"
        if done.returncode != 0:
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:]
            return f"partyray serve --help exited {done.returncode}: {' '.join(tail)}"
        return None

    def start(self, workdir: Path) -> Endpoint:
        """Start the server and wait until ``/health`` answers 200."""
        exe = _executable()
        if exe is None:
            raise FileNotFoundError("no partyray executable")
        port = free_port()
        token = secrets.token_urlsafe(16)
        secret = secrets.token_urlsafe(24)
        argv = [exe, "serve", "--host", "127.0.0.1", "--port", str(port)]
        argv += ["--gateways", str(self.gateways), "--allow-client-publish"]
        argv += ["--log-level", "warning"]
        # Secrets by environment: kept out of ps, and a random one that starts
        # with "-" cannot be taken for an option.
        env = dict(os.environ)
        env["PARTYRAY_PUBLISH_TOKEN"] = token
        env["PARTYRAY_AUTH_SECRET"] = secret
        self._server = ServerProcess(
            "partyray", argv, workdir / "partyray.log", env=env
        )
        self._server.start()
        self._server.wait_ready(port, timeout=self.ready_timeout)
        return Endpoint(
            name=self.name,
            port=port,
            token=token,
            http_publish=True,
            supports_since=True,
            auth_secret=secret,
            notes=(f"{self.gateways} gateway(s)",),
        )

    def processes(self) -> list[ServerProcess]:
        """The ``partyray serve`` process (Ray's processes are its descendants)."""
        return [self._server] if self._server else []

    def stop(self) -> None:
        """SIGINT, then SIGTERM, then SIGKILL to the group and any stray."""
        if self._server is not None:
            self._server.stop(timeout=15)
            self._server = None
