"""Load generators: subscriber and publisher processes and the run that drives them.

Every load process is a separate OS process (``multiprocessing`` with spawn)
running real ``websockets`` (or ``httpx``) clients against 127.0.0.1 only.
Each is bounded by its plan in connections and messages and by a deadline in
time, and exits by itself when the deadline passes.
"""

__all__: list[str] = []
