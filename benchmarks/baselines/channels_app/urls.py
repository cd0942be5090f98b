"""URL routes of the benchmark's Channels project."""

from django.urls import path

from benchmarks.baselines.channels_app.views import health, publish_view

__all__ = ["urlpatterns"]

urlpatterns = [
    path("health", health),
    path("publish", publish_view),
]
