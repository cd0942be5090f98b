"""Load benchmarks for partyray and the baselines it is measured against.

The vocabulary is partyray's own (see ``docs/protocol.md``): a *channel* is what
a client subscribes to, a *room* carries channels, a *subscriber* is one
subscription of one connection. The benchmark adds three words:

``target``
    A server under test: ``partyray``, ``plain`` (a websockets broadcast server
    with rooms and nothing else) or ``channels`` (Django Channels with Redis).
``scenario``
    A shape of load: ``fanout``, ``rooms``, ``users``, ``publish``,
    ``connect`` and ``reconnect``.
``run``
    One scenario at one size and mode against one target: one results row.

Run it from the repository root with ``python -m benchmarks SCENARIO``; the
package is not installed with partyray.
"""

__all__: list[str] = []
