"""A two-room terminal chat on partyray.

Start a gateway, note the publish token it prints, then run two chats::

    partyray serve
    python examples/chat.py --name alice --token <publish token>
    python examples/chat.py --name bob          # token from PARTYRAY_PUBLISH_TOKEN

Both rooms' messages are shown. A line is said in the current room;
``/room lobby`` or ``/room random`` switches; ``/quit`` or end of input leaves.
The chat subscribes with :class:`SubscriptionClient` (one socket per room) and
says things with :class:`HttpPublisher`; the publish token lets it publish to
any channel, so keep it to trusted terminals.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

from partyray.gateway.client import SubscriptionClient
from partyray.gateway.publisher import HttpPublisher

ROOMS = ("lobby", "random")


def channel(room: str) -> str:
    return f"chat?roomId={room}"


async def chat(url: str, token: str, name: str) -> None:
    def shower(room: str) -> Any:
        def show(message: dict[str, str]) -> None:
            print(f"[{room}] {message['name']}: {message['text']}")

        return show

    def reloaded() -> None:
        print("(reconnected; some messages may have been missed)")

    connection = await SubscriptionClient(url).open_connection(reloaded)
    for room in ROOMS:
        await connection.subscribe(channel(room), shower(room), print)

    room = ROOMS[0]
    print(f"joined {', '.join(ROOMS)}; speaking in {room}")
    async with HttpPublisher(url, token) as publisher:
        while True:
            line = await asyncio.to_thread(sys.stdin.readline)
            text = line.strip()
            if not line or text == "/quit":
                break
            if text.startswith("/room "):
                wanted = text.removeprefix("/room ").strip()
                room = wanted if wanted in ROOMS else room
                print(f"speaking in {room}")
            elif text:
                await publisher.publish(channel(room), {"name": name, "text": text})
    await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--name", default=os.environ.get("USER", "guest"))
    parser.add_argument("--token", default=os.environ.get("PARTYRAY_PUBLISH_TOKEN"))
    args = parser.parse_args()
    if not args.token:
        parser.error("give --token or set PARTYRAY_PUBLISH_TOKEN")
    asyncio.run(chat(args.url, args.token, args.name))


if __name__ == "__main__":
    main()
