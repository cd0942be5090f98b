"""Settings for the benchmark's Channels project: no database, Redis channel layer."""

import os

__all__ = [
    "ALLOWED_HOSTS",
    "ASGI_APPLICATION",
    "CHANNEL_LAYERS",
    "DATABASES",
    "DEBUG",
    "INSTALLED_APPS",
    "MIDDLEWARE",
    "ROOT_URLCONF",
    "SECRET_KEY",
]

SECRET_KEY = os.environ.get("BENCH_DJANGO_SECRET", "benchmark-only-not-secret")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["channels"]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "benchmarks.baselines.channels_app.urls"
ASGI_APPLICATION = "benchmarks.baselines.channels_app.asgi.application"
DATABASES: dict[str, object] = {}
USE_TZ = True

# The default capacity (100 messages per channel) drops silently under fan-out
# bursts; a large one makes loss show up as latency instead. The Redis pool is
# widened too: redis-py raises "Too many connections" rather than waiting, and
# a connection storm of group_add calls otherwise fails handshakes.
_REDIS = {
    "address": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
    "max_connections": 5000,
    # redis-py 8 reads with a 5 s socket timeout by default, the same as the
    # layer's BZPOPMIN wait; a loaded server then loses the race and the
    # consumer dies with "Timeout reading from". Give reads room past 5 s.
    "socket_timeout": 30,
}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [_REDIS],
            "capacity": 100_000,
            "expiry": 120,
        },
    }
}
