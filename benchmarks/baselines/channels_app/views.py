"""HTTP views: ``GET /health`` and ``POST /publish`` with a bearer token.

The project has no middleware, so no CSRF check stands in front of publish.
"""

from __future__ import annotations

import hmac
import os

import orjson
from channels.layers import get_channel_layer
from django.http import HttpRequest, HttpResponse, JsonResponse

from benchmarks.baselines.channels_app.publishing import publish

__all__ = ["health", "publish_view"]


def health(request: HttpRequest) -> HttpResponse:
    """Always 200 while the process serves."""
    return JsonResponse({"status": "ok"})


async def publish_view(request: HttpRequest) -> HttpResponse:
    """Publish one message or ``{"messages": [...]}``; answer ``{"seqs": [...]}``."""
    if request.method != "POST":
        return JsonResponse({"error": "method not allowed"}, status=405)
    expected = "Bearer " + os.environ.get("BENCH_PUBLISH_TOKEN", "")
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return JsonResponse({"error": "bad token"}, status=401)
    try:
        body = orjson.loads(request.body)
    except orjson.JSONDecodeError:
        return JsonResponse({"error": "body is not json"}, status=400)
    messages = body.get("messages", [body]) if isinstance(body, dict) else None
    if not isinstance(messages, list):
        return JsonResponse({"error": "messages is not a list"}, status=400)
    layer = get_channel_layer()
    seqs = []
    for message in messages:
        channel = message.get("channel") if isinstance(message, dict) else None
        if not isinstance(channel, str):
            return JsonResponse({"error": "message lacks a channel"}, status=400)
        seqs.append(await publish(layer, channel, message.get("data")))
    return JsonResponse({"seqs": seqs})
