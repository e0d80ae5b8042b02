"""Sweeps: executors give identical tables, interrupted sweeps resume, seeds are stable,
confidence intervals are Student's, bad experiments are refused before anything runs."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from simulation.errors import ScenarioError
from simulation.sweeps import MEASURED, load_experiment, run_seed, sweep

ROOT = Path(__file__).resolve().parent.parent
SMALL_SET = {"fleet.size": 12, "fleet.cells": 4, "sim.horizon_s": 7000.0,
             "update.image_bytes": 4096, "update.release_s": 600.0}


def experiment_file(tmp_path, grid=None, replications=3, name="tiny", extra=""):
    if grid is None:
        grid = {"nat.udp_timeout_s": [15, 60],
                "strategy.name": ["device-initiated", "device-polling"]}
    lines = ["[experiment]", f'name = "{name}"', 'scenario = "baseline"',
             f"replications = {replications}", "seed = 3", extra, "[experiment.set]"]
    lines += [f'"{k}" = {json.dumps(v)}' for k, v in SMALL_SET.items()]
    lines += ["[experiment.grid]"] + [f'"{k}" = {json.dumps(v)}' for k, v in grid.items()]
    path = tmp_path / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def model_columns(df):
    return df.drop(columns=[c for c in MEASURED if c in df.columns] + ["workers"])


def test_executors_give_identical_runs_tables(tmp_path):
    exp = experiment_file(tmp_path)
    one = sweep(exp, tmp_path / "one", workers=1, progress=False)
    two = sweep(exp, tmp_path / "two", workers=2, progress=False)
    dask = sweep(exp, tmp_path / "dask", workers=2, dask="local", progress=False)
    assert len(one.runs) == 12 and one.failed == 0
    assert two.manifest["executor"] == "2 local processes"
    assert dask.manifest["executor"] == "dask local"
    for other in (two, dask):
        pd.testing.assert_frame_equal(model_columns(one.runs), model_columns(other.runs))
        stored = pd.read_parquet(other.out / "runs.parquet")
        pd.testing.assert_frame_equal(model_columns(stored), model_columns(other.runs))


def test_a_killed_sweep_resumes_and_computes_only_what_is_missing(tmp_path):
    exp = experiment_file(tmp_path, replications=6)
    out = tmp_path / "killed"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "simulation", "sweep", str(exp),
                             "--workers", "1", "--out", str(out), "--quiet"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and len(list((out / "runs").glob("*.json"))
                                         if (out / "runs").is_dir() else []) < 3:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stored = list((out / "runs").glob("*.json"))
    assert 3 <= len(stored) < 24, "the sweep should have been killed midway"
    for f in stored:
        json.loads(f.read_text())                    # no half-written result
    assert not (out / "runs.parquet").exists()
    resumed = sweep(exp, out, workers=1, progress=False)
    assert len(resumed.manifest["reused"]) == len(stored)
    assert resumed.manifest["computed"] == 24 - len(stored)
    whole = sweep(exp, tmp_path / "whole", workers=1, progress=False)
    pd.testing.assert_frame_equal(model_columns(resumed.runs), model_columns(whole.runs))
    pd.testing.assert_frame_equal(
        resumed.summary.drop(columns=[c for c in resumed.summary if c.startswith(MEASURED)]),
        whole.summary.drop(columns=[c for c in whole.summary if c.startswith(MEASURED)]))


def test_adding_a_grid_value_leaves_the_other_runs_unchanged(tmp_path):
    small = experiment_file(tmp_path, grid={"nat.udp_timeout_s": [15, 60]}, name="a")
    large = experiment_file(tmp_path, grid={"nat.udp_timeout_s": [15, 30, 60]}, name="b")
    a = sweep(small, tmp_path / "same", workers=1, progress=False)
    b = sweep(large, tmp_path / "same", workers=1, progress=False)
    assert len(b.manifest["reused"]) == len(a.runs) and b.manifest["computed"] == 3
    kept = b.runs[b.runs["nat.udp_timeout_s"] != 30].reset_index(drop=True)
    pd.testing.assert_frame_equal(model_columns(a.runs), model_columns(kept))
    fresh = sweep(large, tmp_path / "fresh", workers=1, progress=False)
    pd.testing.assert_frame_equal(model_columns(fresh.runs), model_columns(b.runs))


def test_run_seeds_depend_on_values_not_positions():
    p = (("nat.udp_timeout_s", 60.0), ("strategy.name", "device-polling"))
    assert run_seed(1, p, 0) == run_seed(1, tuple(reversed(p)), 0)
    assert run_seed(1, p, 0) != run_seed(1, p, 1) != run_seed(2, p, 1)
    assert 0 <= run_seed(1, p, 0) < 2 ** 63


def test_ci_half_widths_equal_scipy_t_interval(tmp_path):
    exp = experiment_file(tmp_path, grid={"nat.udp_timeout_s": [15, 60]}, replications=4)
    res = sweep(exp, tmp_path / "ci", workers=1, progress=False)
    for _, row in res.summary.iterrows():
        group = res.runs[res.runs["nat.udp_timeout_s"] == row["nat.udp_timeout_s"]]
        for field in ("energy_per_device_j", "bytes_down_per_device", "ttu_p50_s"):
            x = group[field].to_numpy(dtype=float)
            lo, hi = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
            assert row[f"{field}_mean"] == pytest.approx(x.mean())
            assert row[f"{field}_ci95"] == pytest.approx((hi - lo) / 2, rel=1e-9)
            assert x.min() <= row[f"{field}_lo"] <= row[f"{field}_hi"] <= x.max()
        assert row["replications"] == 4


def test_a_failing_run_is_recorded_and_retried(tmp_path, monkeypatch):
    import simulation.runner as engine

    exp = experiment_file(tmp_path, grid={"nat.udp_timeout_s": [15, 60]}, replications=2)
    real = engine.run

    def flaky(scenario, *args, **kwargs):
        if scenario.nat.udp_timeout_s == 15:
            raise RuntimeError("boom")
        return real(scenario, *args, **kwargs)

    monkeypatch.setattr(engine, "run", flaky)
    first = sweep(exp, tmp_path / "f", workers=1, progress=False)
    assert first.failed == 2 and len(first.runs) == 2
    assert all("boom" in e for e in first.manifest["failed"].values())
    assert len(list((tmp_path / "f" / "failed").glob("*.json"))) == 2
    monkeypatch.setattr(engine, "run", real)
    second = sweep(exp, tmp_path / "f", workers=1, progress=False)
    assert second.failed == 0 and second.manifest["computed"] == 2 and len(second.runs) == 4
    assert not list((tmp_path / "f" / "failed").glob("*.json"))


@pytest.mark.parametrize("edit,needle", [
    ('"nosuch.key" = [1, 2]', "nosuch.key"),
    ('"nat.udp_timeout_s" = []', "non-empty list"),
    ('"nat.udp_timeout_s" = 30', "non-empty list"),
    ('"nat.udp_timeout_s" = [30, -1]', "nat.udp_timeout_s"),
    ('"strategy.name" = ["device-initiated", "bogus"]', "strategy.name"),
])
def test_bad_grids_are_refused_before_anything_runs(tmp_path, edit, needle):
    path = experiment_file(tmp_path, grid={})
    path.write_text(path.read_text() + edit + "\n")
    check_refused(tmp_path, path, needle)


@pytest.mark.parametrize("old,new,needle", [
    ("replications = 3", "replications = 0", "replications"),
    ('scenario = "baseline"', 'scenario = "nowhere"', "nowhere"),
    ('name = "tiny"', 'name = "tiny"\nrepetitions = 2', "repetitions"),
])
def test_bad_experiments_are_refused_before_anything_runs(tmp_path, old, new, needle):
    path = experiment_file(tmp_path)
    path.write_text(path.read_text().replace(old, new))
    check_refused(tmp_path, path, needle)


def check_refused(tmp_path, path, needle):
    with pytest.raises(ScenarioError, match=needle.replace(".", r"\.")):
        load_experiment(path)
    out = tmp_path / "refused"
    r = subprocess.run([sys.executable, "-m", "simulation", "sweep", str(path), "--out",
                        str(out)], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in r.stderr
    assert not out.exists()


def test_committed_experiments_load():
    for path in sorted((ROOT / "experiments").glob("*.toml")):
        if path.name == "assumptions.toml":            # the variants the others share
            continue
        exp = load_experiment(path)
        assert exp.runs() and all(np.isfinite(r.seed) for r in exp.runs())
