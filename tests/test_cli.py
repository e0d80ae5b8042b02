"""Tests of the `iotsu-sim` command line (`python -m simulation`) against interface.md:
the files `run` writes, reproducibility, refusals with exit status 2, `scenarios`, `keys`
and replacing an existing output folder."""
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from simulation.scenario import STRATEGIES, all_keys

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--set", "fleet.size=5", "--set", "sim.horizon_s=4000", "--set", "update.release_s=100",
        "--set", "device.wake_interval_s=600", "--set", "update.image_bytes=2000", "--quiet"]
FILES = ["devices.parquet", "summary.json", "manager.parquet", "scenario.toml", "manifest.json"]
DEVICE_COLUMNS = ["device_id", "cell", "updated", "t_first_contact_s", "t_updated_s",
                  "time_to_update_s", "download_s", "energy_j", "bytes_up", "bytes_down",
                  "msgs_up", "msgs_down", "retransmissions", "failed_attempts"]
SUMMARY_FIELDS = ["strategy", "fleet_size", "updated_fraction", "ttu_p50_s", "ttu_p95_s",
                  "ttu_p99_s", "energy_per_device_j", "manager_msgs_in", "manager_msgs_out",
                  "manager_bytes_out", "manager_peak_rps", "polls_sent", "polls_answered",
                  "events", "wall_s"]


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "simulation", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def run_ok(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    r = cli(cwd, *args)
    assert r.returncode == 0, r.stderr
    return r


def devices(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "devices.parquet")


@pytest.fixture(scope="module")
def baseline_run(tmp_path_factory):
    """One tiny traced run of the baseline, shared by the read-only checks."""
    cwd = tmp_path_factory.mktemp("cli")
    run_ok(cwd, "run", "baseline", *TINY, "--trace", "2", "--out", "out")
    return cwd / "out"


# -- what `run` writes -----------------------------------------------------------------------

def test_run_writes_the_promised_files(baseline_run):
    for f in FILES + ["trace.txt"]:
        assert (baseline_run / f).is_file(), f


def test_devices_parquet_has_one_row_per_device_and_the_contract_columns(baseline_run):
    df = devices(baseline_run)
    assert len(df) == 5
    missing = [c for c in DEVICE_COLUMNS if c not in df.columns]
    assert not missing, missing
    assert sorted(df["device_id"]) == list(range(5))
    assert df["updated"].dtype == bool
    nan_when_not_updated = df.loc[~df["updated"], "t_updated_s"].isna().all()
    assert nan_when_not_updated
    upd = df[df["updated"]]
    assert ((upd["t_updated_s"] - 100.0 - upd["time_to_update_s"]).abs() < 1e-6).all()
    assert (df[["bytes_up", "bytes_down", "msgs_up", "msgs_down", "energy_j"]] >= 0).all().all()


def test_summary_json_has_the_contract_fields(baseline_run):
    summary = json.loads((baseline_run / "summary.json").read_text())
    missing = [f for f in SUMMARY_FIELDS if f not in summary]
    assert not missing, missing
    assert summary["fleet_size"] == 5
    assert summary["strategy"] == "device-initiated"
    assert 0.0 <= summary["updated_fraction"] <= 1.0
    assert summary["events"] > 0


def test_manager_parquet_is_a_table(baseline_run):
    df = pd.read_parquet(baseline_run / "manager.parquet")
    assert len(df) > 0 and len(df.columns) >= 2


def test_scenario_toml_is_fully_resolved(baseline_run):
    data = tomllib.loads((baseline_run / "scenario.toml").read_text())
    written = {f"{t}.{leaf}" for t, vals in data.items() for leaf in vals}
    assert written == set(all_keys())
    assert data["fleet"]["size"] == 5 and data["sim"]["horizon_s"] == 4000.0


def test_manifest_has_seed_versions_start_and_end(baseline_run):
    m = json.loads((baseline_run / "manifest.json").read_text())
    assert m["seed"] == 1
    assert m["versions"]["python"] and m["versions"]["iotsu-sim"]
    assert m["versions"]["simpy"] and m["versions"]["pandas"]
    start = dt.datetime.fromisoformat(m["started"])
    end = dt.datetime.fromisoformat(m["finished"])
    assert start <= end


def test_trace_has_messages_of_the_first_two_devices_only(baseline_run):
    lines = (baseline_run / "trace.txt").read_text().splitlines()
    assert lines
    seen = set()
    for line in lines:
        m = re.match(r"\s*(\d+\.\d+)\s+dev (\d+)\s+(D-->M|D<--M): \S", line)
        assert m, line
        seen.add(int(m.group(2)))
    assert seen == {0, 1}
    text = "\n".join(lines)
    assert "D-->M:" in text and "D<--M:" in text
    times = [float(line.split()[0]) for line in lines]
    assert times == sorted(times)


def test_no_trace_without_the_option_and_tracing_changes_no_result(baseline_run, tmp_path):
    run_ok(tmp_path, "run", "baseline", *TINY, "--out", "out")
    assert not (tmp_path / "out" / "trace.txt").exists()
    assert all((tmp_path / "out" / f).is_file() for f in FILES)
    assert_frame_equal(devices(tmp_path / "out"), devices(baseline_run))


# -- reproducibility -------------------------------------------------------------------------

def test_written_scenario_reruns_identically_and_another_seed_differs(baseline_run, tmp_path):
    scen = baseline_run / "scenario.toml"
    run_ok(tmp_path, "run", str(scen), "--quiet", "--out", "again")
    assert_frame_equal(devices(tmp_path / "again"), devices(baseline_run))
    run_ok(tmp_path, "run", str(scen), "--quiet", "--seed", "1", "--out", "seed1")
    assert_frame_equal(devices(tmp_path / "seed1"), devices(baseline_run))
    run_ok(tmp_path, "run", str(scen), "--quiet", "--seed", "7", "--out", "seed7")
    other = devices(tmp_path / "seed7")
    with pytest.raises(AssertionError):
        assert_frame_equal(other, devices(baseline_run))
    # a different seed changes the draws, not the shape of the table
    assert list(other.columns) == list(devices(baseline_run).columns)
    assert json.loads((tmp_path / "seed7" / "manifest.json").read_text())["seed"] == 7


# -- refusals --------------------------------------------------------------------------------

BAD = {
    "unknown key": ["baseline", "--set", "nosuch.key=1"],
    "unknown leaf": ["baseline", "--set", "fleet.sise=1"],
    "out of range": ["baseline", "--set", "fleet.size=-5"],
    "loss out of range": ["baseline", "--set", "link.loss=1.5"],
    "wrong type": ["baseline", "--set", "fleet.size=abc"],
    "not integral": ["baseline", "--set", "fleet.size=2.5"],
    "not a bool": ["baseline", "--set", "nat.enabled=maybe"],
    "unknown strategy": ["baseline", "--set", "strategy.name=bogus"],
    "unknown preset": ["baseline", "--set", "link.preset=bogus"],
    "not KEY=VALUE": ["baseline", "--set", "fleet.size"],
    "coverage shares short of 1": ["baseline", "--set", "fleet.coverage_mix=nbiot-ce0=0.5"],
    "coverage mix behind a gateway": ["baseline", "--set", "strategy.name=delegated",
                                      "--set", "fleet.coverage_mix=nbiot-ce0=1"],
    "negative seed": ["baseline", "--seed", "-3"],
    "missing file": ["no-such-scenario.toml"],
    "malformed TOML": ["broken.toml"],
    "unknown table": ["unknown-table.toml"],
    "negative trace": ["baseline", "--trace", "-1"],
}


def check_refused(cwd: Path, args: list[str]) -> str:
    out = cwd / "out"
    # the bad option comes last, so that TINY's own --set cannot mask it
    r = cli(cwd, "run", args[0], *TINY, *args[1:], "--out", str(out))
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, r.stderr
    assert not out.exists() or not any(out.iterdir())
    assert not list(cwd.glob(".out.tmp-*"))
    return lines[0]


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, case):
    (tmp_path / "broken.toml").write_text("[strategy\nname = \n")
    (tmp_path / "unknown-table.toml").write_text("[bogus]\nx = 1\n")
    line = check_refused(tmp_path, BAD[case])
    assert len(line) > 10


def test_error_line_names_key_value_and_allowed(tmp_path):
    line = check_refused(tmp_path, ["baseline", "--set", "link.loss=1.5"])
    assert "link.loss" in line and "1.5" in line and "0.99" in line
    line = check_refused(tmp_path, ["baseline", "--set", "strategy.name=bogus"])
    assert "strategy.name" in line and "bogus" in line and "device-initiated" in line


def test_every_strategy_of_the_contract_is_implemented():
    from simulation.strategies import IMPLEMENTED
    assert set(STRATEGIES) == set(IMPLEMENTED)


def test_existing_out_folder_is_kept_on_bad_input(tmp_path):
    out = tmp_path / "out"
    run_ok(tmp_path, "run", "baseline", *TINY, "--out", "out")
    before = {f.name: f.read_bytes() for f in out.iterdir()}
    r = cli(tmp_path, "run", "baseline", *TINY, "--set", "fleet.size=0", "--out", "out")
    assert r.returncode == 2
    assert {f.name: f.read_bytes() for f in out.iterdir()} == before


# -- other commands --------------------------------------------------------------------------

def test_scenarios_lists_the_builtins_with_one_line_each(tmp_path):
    r = run_ok(tmp_path, "scenarios")
    lines = [line for line in r.stdout.splitlines() if line.strip()]
    names = [line.split()[0] for line in lines]
    assert {"baseline", "closed-form", "tight-nat", "large-fleet"} <= set(names)
    assert len(names) == len(set(names))
    assert all(len(line.split(maxsplit=1)) == 2 for line in lines)


def test_keys_prints_a_markdown_table_with_one_row_per_key(tmp_path):
    r = run_ok(tmp_path, "keys")
    lines = r.stdout.strip().splitlines()
    header, sep, rows = lines[0], lines[1], lines[2:]
    assert header.startswith("| key |")
    ncols = header.count("|")
    assert re.fullmatch(r"\|( --- \|)+", sep) and sep.count("|") == ncols
    keys = []
    for row in rows:
        m = re.match(r"\| `([a-z_]+\.[a-z_0-9]+)` \|", row)
        assert m, row
        assert row.count("|") == ncols, f"row breaks the table: {row}"
        keys.append(m.group(1))
    assert keys == all_keys()


# -- replacing an existing output folder -----------------------------------------------------

def test_run_into_existing_out_replaces_files_and_leaves_no_temp_folder(tmp_path):
    out = tmp_path / "res" / "out"
    out.mkdir(parents=True)
    (out / "devices.parquet").write_text("stale")
    run_ok(tmp_path, "run", "baseline", *TINY, "--out", str(out))
    first = devices(out)
    run_ok(tmp_path, "run", "baseline", *TINY, "--seed", "7", "--out", str(out))
    assert all((out / f).is_file() for f in FILES)
    assert json.loads((out / "manifest.json").read_text())["seed"] == 7
    assert tomllib.loads((out / "scenario.toml").read_text())["sim"]["seed"] == 7
    with pytest.raises(AssertionError):
        assert_frame_equal(devices(out), first)
    leftovers = [p.name for p in out.parent.iterdir() if p.name != "out"]
    assert not leftovers, leftovers
    assert not [p for p in out.iterdir() if ".tmp-" in p.name]


def test_rerun_without_trace_removes_the_old_trace(tmp_path):
    run_ok(tmp_path, "run", "baseline", *TINY, "--trace", "1", "--out", "out")
    run_ok(tmp_path, "run", "baseline", *TINY, "--out", "out")
    assert not (tmp_path / "out" / "trace.txt").exists()


def test_a_reader_that_goes_away_ends_the_command_quietly():
    """`iotsu-sim keys | head -1`: the closed pipe stops the command without a traceback.
    The reader closes its end before the command writes (it is still importing), so that
    the write meets the closed pipe whatever the pipe's buffer holds: had the reader read
    first, the whole table (under the buffer's 64 KiB) could be written before the close,
    and the command end well."""
    import subprocess
    import sys

    p = subprocess.Popen([sys.executable, "-m", "simulation", "keys"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait() == 1
    assert "Traceback" not in err and "BrokenPipe" not in err
