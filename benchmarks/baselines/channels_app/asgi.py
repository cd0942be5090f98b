"""The ASGI application: Django for HTTP, :class:`BenchConsumer` on any path."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault(
    "DJANGO_SETTINGS_MODULE", "benchmarks.baselines.channels_app.settings"
)
_http = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402

from benchmarks.baselines.channels_app.consumers import BenchConsumer  # noqa: E402

__all__ = ["application"]

application = ProtocolTypeRouter(
    {
        "http": _http,
        "websocket": URLRouter([re_path(r"^.*$", BenchConsumer.as_asgi())]),
    }
)
