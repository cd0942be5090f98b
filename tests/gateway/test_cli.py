"""`partyray serve` as a user runs it: its own embedded Ray, then a clean stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx
import psutil
import pytest
import websockets.sync.client

from partyray.gateway import free_port


def _wait_for_line(
    proc: subprocess.Popen[str], needle: str, timeout: float
) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        lines.append(line.rstrip())
        if needle in line:
            return lines
    raise AssertionError(f"{needle!r} not printed; got {lines}")


def _serve(port: int, env: dict[str, str]) -> subprocess.Popen[str]:
    """``partyray serve`` on ``port`` in a session of its own, as a user starts it."""
    command = [sys.executable, "-m", "partyray.gateway.cli", "serve"]
    command += ["--port", str(port), "--log-level", "warning", "--num-cpus", "1"]
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        start_new_session=True,
    )


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM])
def test_serve_prints_urls_serves_and_leaves_nothing_behind(stop_signal: int) -> None:
    """The command starts Ray, serves, and on SIGTERM stops every process it made."""
    port = free_port()
    env = {**os.environ, "PARTYRAY_PUBLISH_TOKEN": "cli-token"}
    env.pop("RAY_ADDRESS", None)
    proc = _serve(port, env)
    try:
        lines = _wait_for_line(proc, "health", timeout=90)
        assert any(f"ws://127.0.0.1:{port}/ws" in line for line in lines)
        assert not any("generated" in line for line in lines)
        descendants = psutil.Process(proc.pid).children(recursive=True)
        assert descendants, "an embedded Ray has processes of its own"

        with websockets.sync.client.connect(f"ws://127.0.0.1:{port}/ws") as ws:
            ws.recv(timeout=10)
            ws.send(json.dumps({"type": "remult:subscribe", "channel": "c?roomId=cli"}))
            assert json.loads(ws.recv(timeout=10))["payload"]["subscribed"]
            response = httpx.post(
                f"http://127.0.0.1:{port}/publish",
                json={"channel": "c?roomId=cli", "data": "hi"},
                headers={"Authorization": "Bearer cli-token"},
                timeout=10,
            )
            assert response.json() == {"seqs": [1]}
            assert json.loads(ws.recv(timeout=10))["data"] == "hi"

            proc.send_signal(stop_signal)
            # The gateway says goodbye with 1001 before it goes.
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    ws.recv(timeout=30)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1001
        assert proc.wait(timeout=60) == 0
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            alive = [
                p
                for p in descendants
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE
            ]
            if not alive:
                break
            time.sleep(0.2)
        assert not alive, [p.name() for p in alive]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_serve_generates_a_token_when_none_is_given() -> None:
    """Without a publish token, one is generated and printed once."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PARTYRAY_PUBLISH_TOKEN"}
    proc = _serve(port, env)
    try:
        lines = _wait_for_line(proc, "publish token (generated)", timeout=90)
        token = lines[-1].split()[-1]
        response = httpx.post(
            f"http://127.0.0.1:{port}/publish",
            json={"channel": "c?roomId=t", "data": 1},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert response.status_code == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_bad_partition_spec_is_a_clear_error() -> None:
    """A spec that does not parse stops the command with status 2 and a reason."""
    proc = subprocess.run(
        [sys.executable, "-m", "partyray.gateway.cli", "serve", "--partition", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "partyray: unknown partition term 'nope'" in proc.stderr


def test_default_pool_is_one_host_per_four_cpus() -> None:
    """The shared pool grows with the cluster, one host per 4 CPUs, at least one."""
    from partyray.gateway.cli import default_shards

    assert [default_shards(c) for c in (1, 2, 4, 7, 8, 64)] == [1, 1, 1, 1, 2, 16]
