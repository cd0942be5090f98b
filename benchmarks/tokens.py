"""HS256 JWTs for connections that must prove who they are.

partyray lets only user ``u1`` subscribe to ``users:u1:queries:...``, so the
``users`` scenario connects each subscriber with a token whose ``sub`` is its
user, signed with the secret the benchmark gave the server. Targets without
authentication never see a token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import orjson

__all__ = ["hs256_token"]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def hs256_token(secret: str, subject: str, ttl_s: float = 3600.0) -> str:
    """A compact JWT for ``subject``, valid for ``ttl_s`` seconds."""
    header = _b64(orjson.dumps({"alg": "HS256", "typ": "JWT"}))
    now = int(time.time())
    claims = _b64(orjson.dumps({"sub": subject, "iat": now, "exp": now + int(ttl_s)}))
    signing_input = f"{header}.{claims}".encode()
    signature = hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()
    return f"{header}.{claims}.{_b64(signature)}"
