"""``python -m benchmarks SCENARIO [options]``: run scenarios against targets.

Targets run one after another in the same invocation with the same load: each
is started, measured at every size and mode of the scenario, and stopped
before the next starts, so an idle server never competes with a measured one.
Plain runs first; every other target's row carries its ratio to plain.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from benchmarks.load.runner import RunAborted, run_load
from benchmarks.plots import plot_latency, plot_throughput
from benchmarks.progress import RunProgress
from benchmarks.report import markdown_table, write_jsonl
from benchmarks.results import machine, ratios_against_plain, summarize
from benchmarks.sampler import ProcessTreeSampler
from benchmarks.scenarios import SCENARIOS, Options, build, cases
from benchmarks.targets import (
    TARGET_NAMES,
    ChannelsTarget,
    PartyrayTarget,
    PlainTarget,
    Target,
)
from benchmarks.targets.process import StartFailed

__all__ = ["main", "parser"]

_RESULTS = Path(__file__).resolve().parent / "results"


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("sizes must be positive integers")
    return values


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Load benchmarks: partyray against plain websockets and "
        "Django Channels, with the same load, in the same run.",
    )
    p.add_argument("scenario", choices=(*SCENARIOS, "all"))
    p.add_argument(
        "--targets", type=_names, default=None, help="partyray,plain,channels"
    )
    p.add_argument("--subscribers", type=_ints, help="sizes, e.g. 100,1000")
    p.add_argument(
        "--rooms", type=int, help="rooms (rooms, publish, connect, reconnect)"
    )
    p.add_argument("--messages", type=int, help="messages per saturated run")
    p.add_argument("--rate", type=float, help="messages/s in rate mode")
    p.add_argument("--duration", type=float, help="seconds of a rate-mode run")
    p.add_argument("--modes", type=_names, help="saturated,rate")
    p.add_argument(
        "--window", type=int, default=20, help="saturated: messages in flight"
    )
    p.add_argument(
        "--batch", type=int, default=10, help="publish: messages per request"
    )
    p.add_argument("--http-concurrency", type=int, default=4)
    p.add_argument("--load-procs", type=int, default=2, help="subscriber processes")
    p.add_argument("--gap", type=float, help="reconnect: seconds away")
    p.add_argument("--gateways", type=int, default=1, help="partyray gateways")
    p.add_argument(
        "--channels-server", choices=("uvicorn", "daphne"), default="uvicorn"
    )
    p.add_argument("--tiny", action="store_true", help="tiny sizes: seconds per run")
    p.add_argument("--out", type=Path, help="results file (JSON lines)")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    return p


def _targets(args: argparse.Namespace) -> list[Target]:
    chosen = args.targets or TARGET_NAMES
    unknown = set(chosen) - set(TARGET_NAMES)
    if unknown:
        raise SystemExit(f"unknown target(s): {', '.join(sorted(unknown))}")
    made: dict[str, Target] = {
        "plain": PlainTarget(),
        "partyray": PartyrayTarget(gateways=args.gateways),
        "channels": ChannelsTarget(server=args.channels_server),
    }
    return [made[name] for name in TARGET_NAMES if name in chosen]


def _options(args: argparse.Namespace) -> Options:
    return Options(
        subscribers=args.subscribers,
        rooms=args.rooms,
        messages=args.messages,
        rate=args.rate,
        duration=args.duration,
        modes=args.modes,
        window=args.window,
        batch=args.batch,
        http_concurrency=args.http_concurrency,
        load_procs=args.load_procs,
        gap=args.gap,
        tiny=args.tiny,
    )


def _run_target(
    target: Target,
    scenarios: list[str],
    options: Options,
    workdir: Path,
    progress: RunProgress,
    run_id: str,
) -> tuple[list[dict[str, Any]], list[tuple[str, list[int]]]]:
    records: list[dict[str, Any]] = []
    samples: list[tuple[str, list[int]]] = []
    base = {"run_id": run_id, "target": target.name}
    reason = target.unavailable_reason()
    if reason is not None:
        return [{**base, "status": "unavailable", "reason": reason}], samples
    try:
        endpoint = target.start(workdir)
    except (StartFailed, OSError) as exc:
        target.stop()
        return [{**base, "status": "failed", "error": f"start: {exc}"}], samples
    sampler = ProcessTreeSampler(p.pid for p in target.processes())
    sampler.start()
    try:
        for scenario in scenarios:
            for case in cases(scenario, options):
                spec = build(case, options, endpoint)
                row = {**base, "scenario": case.scenario, "label": case.label}
                with progress.task(f"{target.name}: {case.label}") as update:
                    try:
                        raw = run_load(spec, endpoint.ws_url, sampler, update)
                    except RunAborted as exc:
                        records.append({**row, "status": "failed", "error": str(exc)})
                        continue
                record, latencies = summarize(case, spec, endpoint, raw, sampler)
                if record["errors"] or record["lost"]:
                    # Keep the servers' own account of what went wrong.
                    tails = {p.name: p.log_tail(8) for p in target.processes()}
                    record["server_log_tail"] = tails
                records.append({**base, **record})
                samples.append((f"{target.name}: {case.label}", latencies))
                time.sleep(0.5)
    finally:
        sampler.stop()
        strays = sampler.processes()
        target.stop()
        for process in strays:
            with contextlib.suppress(psutil.Error):
                if process.is_running():
                    process.kill()
    return records, samples


def main(argv: list[str] | None = None) -> int:
    """Run the chosen scenarios; print the table; write results and plots."""
    args = parser().parse_args(argv)
    scenarios = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    options = _options(args)
    run_id = time.strftime("%Y%m%d-%H%M%S")
    out: Path = args.out or _RESULTS / f"{run_id}-{args.scenario}.jsonl"
    about = machine()
    records: list[dict[str, Any]] = []
    samples: list[tuple[str, list[int]]] = []
    progress = RunProgress(enabled=not args.no_progress and sys.stderr.isatty())
    with tempfile.TemporaryDirectory(prefix="partyray-bench-") as tmp, progress:
        for target in _targets(args):
            done, latencies = _run_target(
                target, scenarios, options, Path(tmp), progress, run_id
            )
            records.extend(done)
            samples.extend(latencies)
    ratios_against_plain(records)
    for record in records:
        record["machine"] = about
    write_jsonl(out, records)
    print(markdown_table(records))
    print(f"\nresults: {out}")
    if not args.no_plots:
        stem = out.with_suffix("")
        for drawn in (
            plot_throughput(records, stem.with_name(stem.name + "-throughput.png")),
            plot_latency(samples, stem.with_name(stem.name + "-latency.png")),
        ):
            if drawn is not None:
                print(f"plot: {drawn}")
    return 1 if any(r.get("status") == "failed" for r in records) else 0
