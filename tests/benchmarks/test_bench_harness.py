"""The benchmark CLI, run for real in a subprocess at tiny sizes.

Each target runs every scenario once (one CLI call per target, shared by the
tests through a module fixture), and the tests read its JSON-lines results.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = ("fanout", "rooms", "users", "publish", "connect", "reconnect")
DELIVERING = ("fanout", "rooms", "users", "publish", "reconnect")


def _run_cli(tmp: Path, target: str, scenario: str = "all") -> list[dict[str, Any]]:
    out = tmp / f"{target}.jsonl"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    argv = [sys.executable, "-m", "benchmarks", scenario, "--tiny"]
    argv += ["--targets", target, "--out", str(out), "--no-progress"]
    done = subprocess.run(
        argv,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "| target |" in done.stdout
    return [json.loads(line) for line in out.read_text().splitlines()]


@pytest.fixture(scope="module")
def plain_records(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return _run_cli(tmp_path_factory.mktemp("plain"), "plain")


@pytest.fixture(scope="module")
def channels_records(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (apt-get install -y redis-server)")
    return _run_cli(tmp_path_factory.mktemp("channels"), "channels")


def _by_scenario(records: list[dict[str, Any]], scenario: str) -> list[dict[str, Any]]:
    rows = [r for r in records if r.get("scenario") == scenario]
    assert rows, f"no {scenario} rows in {records!r:.400}"
    return rows


def _check_sane(record: dict[str, Any]) -> None:
    assert record["status"] == "ok", record
    for key in ("latency_ms", "setup_ms"):
        figures = record[key]
        assert 0 <= figures["p50"] <= figures["p95"] <= figures["p99"] <= figures["max"]
    assert record["connections_ok"] == record["connections"]
    assert record["server"]["peak_rss_mb"] > 0
    assert record["server"]["processes"] >= 1
    assert record["server"]["cpu_s"] >= 0
    assert record["load"]["cpu_s"] >= 0
    assert record["machine"]["cpus"] >= 1
    assert record["duplicated"] == 0


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_plain_scenario_records(
    plain_records: list[dict[str, Any]], scenario: str
) -> None:
    """Every scenario against plain yields sane rows with no loss where none is due."""
    for record in _by_scenario(plain_records, scenario):
        _check_sane(record)
        if scenario in DELIVERING:
            assert record["deliveries"] > 0
            assert record["deliveries_per_s"] > 0
            assert record["latency_ms"]["count"] > 0
        if scenario in ("fanout", "rooms", "users", "publish"):
            assert record["lost"] == 0
            assert record["out_of_order"] == 0
            assert record["deliveries"] == record["expected_deliveries"]


def test_plain_fanout_has_both_modes(plain_records: list[dict[str, Any]]) -> None:
    """Fanout runs saturated and at a fixed rate, and rate rows carry the rate."""
    rows = _by_scenario(plain_records, "fanout")
    assert {r["mode"] for r in rows} == {"saturated", "rate"}
    assert all(r["rate"] for r in rows if r["mode"] == "rate")


def test_plain_connect_measures_memory(plain_records: list[dict[str, Any]]) -> None:
    """The connect storm reports its duration and memory per connection."""
    (record,) = _by_scenario(plain_records, "connect")
    assert record["storm_s"] > 0
    assert record["connections_per_s"] > 0
    assert set(record["memory"]) >= {"per_connection_kb_uss", "per_connection_kb_pss"}


def test_plain_cannot_recover(plain_records: list[dict[str, Any]]) -> None:
    """Plain keeps no history: every subscriber returns but recovery is refused."""
    (record,) = _by_scenario(plain_records, "reconnect")
    back = record["reconnect"]
    assert back["dropped"] == record["connections"]
    assert back["returned"] == back["dropped"]
    assert back["can_recover"] is False
    assert back["replayed"] == 0


def test_plain_publish_says_websocket(plain_records: list[dict[str, Any]]) -> None:
    """Plain has no HTTP publish, and the publish rows say it used frames."""
    (record,) = _by_scenario(plain_records, "publish")
    assert record["publish_via"] == "ws"
    assert record["publishes_per_s"] > 0


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_channels_scenario_records(
    channels_records: list[dict[str, Any]], scenario: str
) -> None:
    """Every scenario against Django Channels yields sane rows."""
    for record in _by_scenario(channels_records, scenario):
        _check_sane(record)
        if scenario in DELIVERING:
            assert record["deliveries"] > 0
        if scenario == "publish":
            assert record["publish_via"] == "http"


@pytest.fixture(scope="module")
def partyray_records(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return _run_cli(tmp_path_factory.mktemp("partyray"), "partyray")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_partyray_scenario_records(
    partyray_records: list[dict[str, Any]], scenario: str
) -> None:
    """Every scenario runs against partyray, with no loss where none is due."""
    for record in _by_scenario(partyray_records, scenario):
        _check_sane(record)
        assert record["server"]["processes"] > 1
        if scenario in DELIVERING:
            assert record["deliveries"] > 0
        if scenario in ("fanout", "rooms", "users", "publish"):
            assert record["lost"] == 0
            assert record["out_of_order"] == 0
            assert record["deliveries"] == record["expected_deliveries"]
        if scenario == "reconnect":
            # partyray recovers every message missed while away.
            assert record["lost"] == 0


def test_unknown_target_is_refused() -> None:
    """A target name outside the three is an error, not a silent skip."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "fanout", "--targets", "nope"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode != 0
    assert "unknown target" in done.stderr
