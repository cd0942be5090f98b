"""The gateway's configuration: where it listens, whom it trusts, its limits."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from partyray.actors import DirectoryConfig
from partyray.partitioning import PartitionStrategy, parse_spec

__all__ = ["GatewayConfig", "Limits"]


@dataclass(frozen=True)
class Limits:
    """The bounds every gateway enforces; see ``docs/protocol.md``.

    ``outbound_bytes`` bounds the bytes waiting to be written to one
    connection: a consumer that falls that far behind is closed with 1013.
    """

    max_frame: int = 65_536
    max_channel: int = 1024
    subscriptions_per_connection: int = 1000
    connections_per_gateway: int = 20_000
    outbound_bytes: int = 1_048_576
    protocol_errors: int = 20
    max_publish_body: int = 1_048_576
    max_publish_messages: int = 1000
    pending_per_subscription: int = 10_000

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if value < 1:
                raise ValueError(f"limit {name} must be at least 1")


@dataclass(frozen=True)
class GatewayConfig:
    """Everything a gateway needs to serve.

    ``partition`` is a strategy or a partition spec (see
    :func:`partyray.partitioning.parse_spec`). ``publish_token`` guards the
    HTTP publish endpoints. ``auth_secret`` signs the HS256 tokens that
    connections prove their identity with; without it every connection is
    anonymous. ``allow_client_publish`` lets connections publish and signal
    (it sets the rooms' policy). ``watch_interval`` is how often the gateway
    checks that the room hosts it subscribed in have not restarted.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    partition: PartitionStrategy | str = "remult"
    publish_token: str = ""
    auth_secret: str | None = None
    directory: DirectoryConfig = field(default_factory=DirectoryConfig)
    limits: Limits = field(default_factory=Limits)
    allow_client_publish: bool = False
    watch_interval: float = 1.0
    log_level: str = "info"

    def strategy(self) -> PartitionStrategy:
        """The partition strategy, built from the spec when one was given."""
        if isinstance(self.partition, str):
            return parse_spec(self.partition)
        return self.partition

    def directory_config(self) -> DirectoryConfig:
        """The directory configuration, with the rooms' client-publish policy set."""
        room = replace(
            self.directory.room, allow_client_publish=self.allow_client_publish
        )
        return replace(self.directory, room=room)
