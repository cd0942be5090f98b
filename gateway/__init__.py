"""The gateway: WebSocket and HTTP endpoints served from Ray actors.

A gateway holds client connections, registers their subscriptions with rooms
(as one subscriber per gateway), writes each delivered frame to its local
connections, and takes publishes over HTTP. See ``docs/protocol.md``.
"""

from .auth import HS256Verifier, InvalidToken, TokenVerifier, issue_token
from .client import ClientStatistics, Connection, SubscriptionClient
from .config import GatewayConfig, Limits
from .launch import GatewayGroup, free_port
from .metrics import GatewayStatistics
from .protocol import CloseCode, ErrorCode
from .publisher import HttpPublisher, Publisher, RayPublisher

__all__ = [
    "ClientStatistics",
    "CloseCode",
    "Connection",
    "ErrorCode",
    "GatewayConfig",
    "GatewayGroup",
    "GatewayStatistics",
    "HS256Verifier",
    "HttpPublisher",
    "InvalidToken",
    "Limits",
    "Publisher",
    "RayPublisher",
    "SubscriptionClient",
    "TokenVerifier",
    "free_port",
    "issue_token",
]
