"""A JavaScript WebSocket client, as a browser runs one, against a real gateway."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from gateway_kit import PUBLISH_TOKEN, TIMEOUT

from partyray.gateway import GatewayGroup

SCRIPT = Path(__file__).parent / "js" / "room_client.mjs"


def _node_with_websocket() -> str | None:
    node = shutil.which("node")
    if node is None:
        return None
    probe = subprocess.run(
        [
            node,
            "--experimental-websocket",
            "-e",
            "process.exit(typeof WebSocket === 'function' ? 0 : 1)",
        ],
        capture_output=True,
        timeout=30,
    )
    return node if probe.returncode == 0 else None


NODE = _node_with_websocket()


@pytest.mark.skipif(NODE is None, reason="needs Node.js with a WebSocket global")
async def test_javascript_room_socket_subscribes_and_receives(
    gateway: GatewayGroup,
) -> None:
    """The remult-partykit frames from JavaScript: ack, data, ping and pong."""
    assert NODE is not None
    channel = "notes?roomId=js"
    url = f"{gateway.ws_url}/party/main?room=room:js"
    proc = subprocess.Popen(
        [NODE, "--experimental-websocket", "--no-warnings", str(SCRIPT), url, channel],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    stdout = proc.stdout

    async def event() -> dict[str, object]:
        line = await asyncio.wait_for(asyncio.to_thread(stdout.readline), TIMEOUT)
        parsed: dict[str, object] = json.loads(line)
        return parsed

    try:
        assert await event() == {"event": "subscribed"}
        async with httpx.AsyncClient(timeout=TIMEOUT) as http:
            response = await http.post(
                f"{gateway.http_url}/publish",
                json={"channel": channel, "data": {"text": "from python"}},
                headers={"Authorization": f"Bearer {PUBLISH_TOKEN}"},
            )
        assert response.status_code == 200
        assert await event() == {
            "event": "data",
            "data": {"text": "from python"},
            "seq": 1,
        }
        assert await event() == {"event": "pong"}
        assert await event() == {"event": "closed"}
        assert await asyncio.to_thread(proc.wait, TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
