"""CPU and memory of whole process trees, sampled in a background thread.

A server under test is a tree: ``partyray serve`` starts an embedded Ray whose
gcs_server, raylet, agents and workers are its descendants, and the channels
target is uvicorn plus redis-server. The sampler walks every root's
descendants, remembers each process it has seen (by pid and start time) and
sums their CPU seconds, so a process that has exited still counts with its last
reading. Limits: a child born and dead between two walks is missed; CPU is
sampled every ``interval`` seconds and interpolated in between; PSS needs
``/proc/<pid>/smaps_rollup`` and falls back to RSS where it cannot be read.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

import psutil

__all__ = ["MemoryReading", "ProcessTreeSampler"]

_Key = tuple[int, float]


@dataclass(frozen=True)
class MemoryReading:
    """Memory of a process tree at one moment, in bytes.

    ``uss`` (memory private to the tree's processes) is the figure to take
    differences of: PSS shifts whenever another process maps the same
    libraries, as each new load process does.
    """

    rss: int
    pss: int
    uss: int
    processes: int


class ProcessTreeSampler:
    """Samples the CPU seconds and memory of the trees under ``roots``.

    ``interval`` is the CPU sampling period; memory, which costs more to read,
    is read every ``memory_every`` CPU samples, and the tree is walked for new
    descendants at the same pace.
    """

    def __init__(
        self, roots: Iterable[int], interval: float = 0.1, memory_every: int = 5
    ) -> None:
        self.interval = interval
        self.memory_every = memory_every
        self._roots: list[psutil.Process] = []
        self._known: dict[_Key, psutil.Process] = {}
        self._cpu: dict[_Key, float] = {}
        self._series: dict[_Key, list[tuple[float, float]]] = {}
        self._labels: dict[_Key, str] = {}
        self._times: list[float] = []
        self._cpu_totals: list[float] = []
        self._memory: list[tuple[float, MemoryReading]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        for pid in roots:
            self.add_root(pid)

    def add_root(self, pid: int) -> None:
        """Also sample the process ``pid`` and its descendants."""
        try:
            process = psutil.Process(pid)
        except psutil.NoSuchProcess:
            return
        with self._lock:
            self._roots.append(process)
            self._remember(process)

    def start(self) -> None:
        """Take a first sample and start the background thread."""
        self._walk()
        self._sample_cpu()
        self._sample_memory()
        self._thread.start()

    def stop(self) -> None:
        """Stop the background thread; the readings stay available."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def processes(self) -> list[psutil.Process]:
        """Every process seen so far, alive or not."""
        with self._lock:
            return list(self._known.values())

    def cpu_now(self) -> float:
        """Sample now and return the CPU seconds of everything seen so far."""
        return self._sample_cpu()

    def cpu_at(self, when: float) -> float:
        """CPU seconds at wall-clock time ``when``, interpolated between samples."""
        with self._lock:
            times, totals = list(self._times), list(self._cpu_totals)
        if not times:
            return 0.0
        i = bisect.bisect_left(times, when)
        if i <= 0:
            return totals[0]
        if i >= len(times):
            return totals[-1]
        t0, t1 = times[i - 1], times[i]
        c0, c1 = totals[i - 1], totals[i]
        return c0 + (c1 - c0) * (when - t0) / (t1 - t0) if t1 > t0 else c1

    def cpu_by_process(self, start: float, end: float) -> dict[str, float]:
        """CPU seconds spent between ``start`` and ``end``, summed by process kind.

        A kind is a process's title (``ray::RoomHost``, ``raylet``, ...), so
        the figures say which part of a server the CPU went to.
        """
        with self._lock:
            series = {key: list(points) for key, points in self._series.items()}
            labels = dict(self._labels)
        spent: dict[str, float] = {}
        for key, points in series.items():
            used = _value_at(points, end) - _value_at(points, start)
            if used > 0:
                label = labels.get(key, "?")
                spent[label] = round(spent.get(label, 0.0) + used, 3)
        return dict(sorted(spent.items(), key=lambda item: -item[1]))

    def memory_now(self) -> MemoryReading:
        """Walk the tree and read its memory now."""
        self._walk()
        return self._sample_memory()

    def peak_memory(self, start: float, end: float) -> MemoryReading:
        """The largest reading taken between ``start`` and ``end`` (wall clock)."""
        with self._lock:
            window = [m for t, m in self._memory if start <= t <= end]
            if not window and self._memory:
                window = [self._memory[-1][1]]
        if not window:
            return MemoryReading(0, 0, 0, 0)
        return MemoryReading(
            rss=max(m.rss for m in window),
            pss=max(m.pss for m in window),
            uss=max(m.uss for m in window),
            processes=max(m.processes for m in window),
        )

    def _loop(self) -> None:
        ticks = 0
        while not self._stop.wait(self.interval):
            ticks += 1
            if ticks % self.memory_every == 0:
                self._walk()
                self._sample_memory()
            self._sample_cpu()

    def _remember(self, process: psutil.Process) -> None:
        try:
            key = (process.pid, process.create_time())
        except psutil.Error:
            return
        if key not in self._known:
            self._known[key] = process
            self._labels[key] = _label(process)

    def _walk(self) -> None:
        # New descendants appear at any time (Ray starts workers on demand).
        with self._lock:
            roots = list(self._roots)
        found: list[psutil.Process] = []
        for root in roots:
            try:
                found.extend(root.children(recursive=True))
            except psutil.Error:
                continue
        with self._lock:
            for process in found:
                self._remember(process)
            known = list(self._known.items())
        # Ray workers take their actor's title only once it is created.
        labels = {key: _label(process) for key, process in known}
        with self._lock:
            self._labels.update({k: v for k, v in labels.items() if v != "?"})

    def _alive(self) -> list[tuple[_Key, psutil.Process]]:
        with self._lock:
            return list(self._known.items())

    def _sample_cpu(self) -> float:
        readings: dict[_Key, float] = {}
        now = time.time()
        for key, process in self._alive():
            try:
                times = process.cpu_times()
            except psutil.Error:
                continue
            readings[key] = times.user + times.system
        with self._lock:
            self._cpu.update(readings)
            for key, value in readings.items():
                self._series.setdefault(key, []).append((now, value))
            total = sum(self._cpu.values())
            self._times.append(now)
            self._cpu_totals.append(total)
        return total

    def _sample_memory(self) -> MemoryReading:
        rss = pss = uss = count = 0
        for _key, process in self._alive():
            try:
                if not process.is_running():
                    continue
                info = process.memory_full_info()
            except psutil.AccessDenied:
                try:
                    resident = process.memory_info().rss
                except psutil.Error:
                    continue
                rss, pss, uss = rss + resident, pss + resident, uss + resident
                count += 1
                continue
            except psutil.Error:
                continue
            rss += info.rss
            pss += getattr(info, "pss", info.rss)
            uss += getattr(info, "uss", info.rss)
            count += 1
        reading = MemoryReading(rss=rss, pss=pss, uss=uss, processes=count)
        with self._lock:
            self._memory.append((time.time(), reading))
        return reading


def _value_at(points: list[tuple[float, float]], when: float) -> float:
    # A process's CPU reading at ``when``: interpolated between samples, its
    # first reading before it was seen, its last after it was gone.
    i = bisect.bisect_left(points, (when, -1.0))
    if i <= 0:
        return points[0][1]
    if i >= len(points):
        return points[-1][1]
    (t0, c0), (t1, c1) = points[i - 1], points[i]
    return c0 + (c1 - c0) * (when - t0) / (t1 - t0) if t1 > t0 else c1


def _label(process: psutil.Process) -> str:
    # Ray renames its workers ``ray::<Actor>`` (``ray::<Actor>.<method>``
    # while a call runs); the rest are known by their executable's name.
    try:
        argv = process.cmdline()
        name = process.name()
    except psutil.Error:
        return "?"
    title = argv[0] if argv else name
    if title.startswith("ray::"):
        return title.split(".", 1)[0].split(" ", 1)[0]
    if name.startswith("python") and len(argv) > 1:
        script = next((a for a in argv[1:] if not a.startswith("-")), argv[1])
        return script.rsplit("/", 1)[-1]
    return name
