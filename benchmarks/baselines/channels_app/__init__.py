"""A Django Channels project that speaks partyray's frames over channels_redis.

Subscriptions are Channels groups; a publish, from a client ``data`` frame or
``POST /publish``, is one ``group_send``. Sequence numbers are counted in the
server process, which is right only while one process serves every publish
(the benchmark runs one). There is no history, so ``since`` cannot be honoured.
"""

__all__: list[str] = []
