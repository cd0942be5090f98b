"""Identity: who a connection is, proved by a token.

The built-in verifier takes HS256 JSON Web Tokens signed with the gateway's
auth secret; their ``sub`` claim is the principal, ``exp`` and ``nbf`` are
honoured. Any object with a ``verify(token) -> principal`` method can stand in
for it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any, Protocol

import orjson

from partyray.partitioning.errors import PartyrayError

__all__ = ["HS256Verifier", "InvalidToken", "TokenVerifier", "issue_token"]


class InvalidToken(PartyrayError):
    """A token that does not prove anything: malformed, forged or expired."""


class TokenVerifier(Protocol):
    """Turns a token into a principal (a user id), or raises InvalidToken."""

    def verify(self, token: str) -> str: ...


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class HS256Verifier:
    """Verifies HS256 JWTs signed with ``secret``; ``leeway`` seconds of clock skew."""

    def __init__(self, secret: str, *, leeway: float = 30.0) -> None:
        if not secret:
            raise ValueError("auth secret is empty")
        self._key = secret.encode()
        self._leeway = leeway

    def verify(self, token: str) -> str:
        parts = token.split(".")
        if len(parts) != 3:
            raise InvalidToken("token is not a JWT")
        header_part, claims_part, signature_part = parts
        try:
            header = orjson.loads(_b64decode(header_part))
            claims = orjson.loads(_b64decode(claims_part))
            signature = _b64decode(signature_part)
        except (ValueError, orjson.JSONDecodeError):
            raise InvalidToken("token is not a JWT") from None
        if not isinstance(header, dict) or header.get("alg") != "HS256":
            raise InvalidToken("token algorithm is not HS256")
        expected = hmac.new(
            self._key, f"{header_part}.{claims_part}".encode(), hashlib.sha256
        ).digest()
        if not hmac.compare_digest(signature, expected):
            raise InvalidToken("token signature does not match")
        if not isinstance(claims, dict):
            raise InvalidToken("token claims are not an object")
        now = time.time()
        exp = claims.get("exp")
        if isinstance(exp, int | float) and now > exp + self._leeway:
            raise InvalidToken("token has expired")
        nbf = claims.get("nbf")
        if isinstance(nbf, int | float) and now < nbf - self._leeway:
            raise InvalidToken("token is not valid yet")
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise InvalidToken("token has no subject")
        return subject


def issue_token(
    secret: str, subject: str, *, ttl: float | None = 3600.0, **claims: Any
) -> str:
    """An HS256 JWT for ``subject``, signed with ``secret``, valid ``ttl`` seconds."""
    body: dict[str, Any] = {"sub": subject, **claims}
    if ttl is not None:
        body["exp"] = int(time.time() + ttl)
    header = _b64encode(orjson.dumps({"alg": "HS256", "typ": "JWT"}))
    payload = _b64encode(orjson.dumps(body))
    signature = hmac.new(
        secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256
    ).digest()
    return f"{header}.{payload}.{_b64encode(signature)}"
