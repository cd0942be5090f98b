"""Reading a channel's query string the way a browser's ``URLSearchParams`` does.

Strategies on the server must read a channel exactly as the JavaScript client
reads it, or a room-bound socket would be refused for its own channel. The
rules kept here are those of the ``application/x-www-form-urlencoded`` parser:
pairs split on ``&``, empty pairs skipped, name and value split on the first
``=``, ``+`` read as a space, then percent-decoding with invalid UTF-8 replaced
by U+FFFD and malformed escapes kept as they are.
"""

from __future__ import annotations

from urllib.parse import unquote

__all__ = ["first_values", "query_of"]


def query_of(channel: str) -> str | None:
    """The text after the first ``?`` of ``channel``, or ``None`` without one."""
    _, mark, query = channel.partition("?")
    return query if mark else None


def first_values(query: str) -> dict[str, str]:
    """Each name of ``query`` mapped to its first value, as ``URLSearchParams.get``.

    A single leading ``?`` is dropped, as the ``URLSearchParams`` constructor
    does. A name without ``=`` has the empty value.
    """
    if query.startswith("?"):
        query = query[1:]

    values: dict[str, str] = {}
    for pair in query.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        name = _decode(name)

        # Only the first value counts, so a repeated name cannot override it.
        if name not in values:
            values[name] = _decode(value)
    return values


def _decode(text: str) -> str:
    # The plus sign turns into a space before decoding, so "%2B" stays "+".
    return unquote(text.replace("+", " "), errors="replace")
