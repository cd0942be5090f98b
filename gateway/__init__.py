"""The gateway: WebSocket and HTTP endpoints served from Ray actors."""
