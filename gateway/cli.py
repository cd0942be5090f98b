"""The ``partyray`` command: ``partyray serve`` starts gateways on Ray.

With no ``--address`` it starts an embedded local Ray for the process and
shuts it down on exit; ``--address auto`` (or ``HOST:PORT``) joins a running
cluster, where room hosts are detached and outlive this process.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from types import FrameType
from typing import Any

from partyray.actors import DirectoryConfig, RoomConfig
from partyray.partitioning import PartitionError, parse_spec

from .config import GatewayConfig, Limits

__all__ = ["main"]

logger = logging.getLogger("partyray.cli")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="partyray", description="Real-time subscriptions on Ray."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve WebSocket gateways")
    serve.add_argument(
        "--address",
        default=None,
        help="Ray cluster to join (auto or HOST:PORT); default: start a local Ray",
    )
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve.add_argument(
        "--gateways", type=int, default=1, help="gateway actors sharing the port"
    )
    serve.add_argument(
        "--partition", default="remult", help="partition spec (default: remult)"
    )
    serve.add_argument(
        "--publish-token",
        default=os.environ.get("PARTYRAY_PUBLISH_TOKEN"),
        help="bearer token for POST /publish (or PARTYRAY_PUBLISH_TOKEN); "
        "default: a random one, printed at start",
    )
    serve.add_argument(
        "--auth-secret",
        default=os.environ.get("PARTYRAY_AUTH_SECRET"),
        help="HS256 secret of connection tokens (or PARTYRAY_AUTH_SECRET)",
    )
    serve.add_argument(
        "--allow-client-publish",
        action="store_true",
        help="let connections publish and signal",
    )
    serve.add_argument(
        "--shards",
        type=int,
        default=None,
        help="room hosts in the shared pool (default: one per 4 CPUs of the "
        "cluster, at least one)",
    )
    serve.add_argument(
        "--history", type=int, default=1000, help="messages kept per channel"
    )
    serve.add_argument(
        "--max-connections",
        type=int,
        default=Limits.connections_per_gateway,
        help="connections per gateway",
    )
    serve.add_argument("--num-cpus", type=int, default=None, help="CPUs of local Ray")
    serve.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="log level",
    )
    return parser


def default_shards(cluster_cpus: float) -> int:
    """The shared pool's size for a cluster of ``cluster_cpus`` CPUs.

    Fewer hosts batch better: every message in flight to one host leaves in
    one call, and a host is one process that already uses a core's worth of
    work well. One host per 4 CPUs keeps a core for gateways and Ray itself.
    """
    return max(1, int(cluster_cpus) // 4)


def _config(args: argparse.Namespace, publish_token: str) -> GatewayConfig:
    return GatewayConfig(
        host=args.host,
        port=args.port,
        partition=parse_spec(args.partition),
        publish_token=publish_token,
        auth_secret=args.auth_secret or None,
        allow_client_publish=args.allow_client_publish,
        directory=DirectoryConfig(
            shards=args.shards or 1, room=RoomConfig(history_size=args.history)
        ),
        limits=Limits(connections_per_gateway=args.max_connections),
        log_level=args.log_level,
    )


def serve(args: argparse.Namespace) -> int:
    """Run gateways until SIGINT or SIGTERM; return the exit status."""
    publish_token = args.publish_token
    generated = not publish_token
    if generated:
        publish_token = secrets.token_urlsafe(24)
    try:
        config = _config(args, publish_token)
    except (PartitionError, ValueError) as error:
        print(f"partyray: {error}", file=sys.stderr)
        return 2

    import ray

    from .launch import GatewayGroup

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    embedded = args.address is None
    init: dict[str, Any] = {
        "namespace": "partyray",
        "configure_logging": True,
        "logging_level": args.log_level.upper(),
        "log_to_driver": args.log_level == "debug",
    }
    if embedded:
        init.update(include_dashboard=False, num_cpus=args.num_cpus)
    else:
        init["address"] = args.address
    ray.init(**init)
    if args.shards is None:
        # ray.cluster_resources is untyped; name the shape it returns.
        resources: Callable[[], dict[str, float]] = ray.cluster_resources
        shards = default_shards(resources().get("CPU", 1))
        config = replace(config, directory=replace(config.directory, shards=shards))
    # After ray.init, which installs a SIGTERM handler of its own that exits
    # at once: a stop signal must let the gateways close their sockets first.
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    group = None
    try:
        group = GatewayGroup.start(config, args.gateways, warm=True)
        where = "embedded local Ray" if embedded else f"Ray at {args.address}"
        print(f"partyray serving on {where}", flush=True)
        print(f"  WebSocket  {group.ws_url}/ws", flush=True)
        print(f"             {group.ws_url}/party/<party>?room=<room>", flush=True)
        print(f"  publish    POST {group.http_url}/publish", flush=True)
        print(f"  health     {group.http_url}/health", flush=True)
        if generated:
            print(f"  publish token (generated): {publish_token}", flush=True)
        while not stop.wait(0.5):
            pass
        print("partyray: shutting down", flush=True)
    finally:
        if group is not None:
            group.stop()
        ray.shutdown()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """The entry point of the ``partyray`` command."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s"
    )
    if args.command == "serve":
        return serve(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
