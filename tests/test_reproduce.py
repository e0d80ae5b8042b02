"""`iotsu-sim reproduce`: the study runs, its report's numbers are the tables' numbers, its
figures redraw identically from stored results, a rerun simulates nothing, and bad input is
refused with one line.

One `reproduce --quick` run (about a minute) serves every test here and in
test_notebooks.py and test_figures.py (the `quick_study` fixture); tests that change
results work on a copy.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from simulation.errors import ScenarioError
from simulation.study.report import VALIDATION_HEADING
from simulation.sweeps import load_experiment

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ["a_completion", "a_ttu_cdf", "a_manager_load", "a_time_to_update", "b_nat_timeout",
           "c_wake_interval", "d_coverage", "e_gateway_backhaul", "f_delta_ratio",
           "g_security", "g_bytes_split", "h_cell_contention", "h_completion",
           "i_mqtt_session", "a_pareto", "b_pareto", "c_pareto", "d_pareto", "j_robustness",
           "k_rollout"]
QUESTIONS = ["fleet-size", "nat-timeout", "wake-interval", "coverage", "gateway-fanout",
             "delta-ratio", "security", "cell-contention", "mqtt-session", "robustness",
             "rollout"]
BYTE_SPLIT = "payload_bytes_per_device"
NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?")
_STUDY: dict[str, Path] = {}


def cli(*args, cwd=ROOT, timeout=900):
    return subprocess.run([sys.executable, "-m", "simulation", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def quick_study(tmp_path_factory) -> Path:
    """The results folder of one `iotsu-sim reproduce --quick` (shared by the test files
    that import this fixture)."""
    if "out" not in _STUDY:
        out = tmp_path_factory.mktemp("study") / "results"
        proc = cli("reproduce", "--quick", "--out", str(out), "--workers", "2")
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "REPORT.md" in proc.stdout
        _STUDY["out"] = out
    return _STUDY["out"]


def has_byte_split(study: Path) -> bool:
    return BYTE_SPLIT in pd.read_parquet(study / "security" / "runs.parquet").columns


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir())}


# --- the report

def recompute(src: dict, root: Path) -> float:
    """A number of the report from its recorded source, read here from the stored tables
    with pandas (independently of simulation.study.report)."""
    if "op" in src:
        a, b = (recompute(s, root) for s in src["args"])
        value = {"ratio": a / b, "change_pct": 100 * (a / b - 1),
                 "saving_pct": 100 * (1 - a / b)}[src["op"]]
    else:
        folder = root / src["study"]
        manifest = json.loads((folder / "manifest.json").read_text())
        if "grid" in src:
            assert src["value"] in manifest["grid"][src["grid"]]
            value = src["value"]
        elif "manifest" in src:
            value = manifest[src["manifest"]]
        else:
            runs = pd.read_parquet(folder / "runs.parquet")
            for key, v in src["where"].items():
                col = runs[key]
                runs = runs[col == v] if isinstance(v, str) else runs[np.isclose(col, v)]
            assert len(runs) == manifest["replications"], src
            x = runs.eval(src["expr"]).astype(float).to_numpy()
            if src["stat"] == "mean":
                value = float(np.nanmean(x))
                if src["expr"] in runs.columns:          # the sweep's own table agrees
                    summary = pd.read_parquet(folder / "summary.parquet")
                    for key, v in src["where"].items():
                        col = summary[key]
                        summary = summary[col == v] if isinstance(v, str) else \
                            summary[np.isclose(col, v)]
                    assert summary[f"{src['expr']}_mean"].iloc[0] == pytest.approx(value)
            else:
                x = x[np.isfinite(x)]
                value = float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1)
                              / math.sqrt(len(x)))
    return value * src.get("scale", 1)


def shown_as(text: str, value: float) -> bool:
    """`text` is `value` rounded to the digits it shows."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    return abs(float(text.replace(",", "")) - value) <= 0.5 * 10 ** -decimals * (1 + 1e-9)


def test_every_number_of_the_report_is_read_from_the_results(quick_study):
    report = (quick_study / "REPORT.md").read_text()
    records = json.loads((quick_study / "report.json").read_text())["findings"]
    questions = {r["question"] for r in records}
    assert set("abcdefghijk") <= questions
    checked = 0
    for record in records:
        assert record["text"] in report
        assert NUMBER.findall(record["text"]) == [n["text"] for n in record["numbers"]]
        for number in record["numbers"]:
            value = recompute(number["source"], quick_study)
            assert shown_as(number["text"], value), (record["text"], number, value)
            checked += 1
    assert checked > 60
    # no number in the report but those of its findings (the intro defines p95 and CIs),
    # up to the validation table, which is the stored one (test below)
    body = report.split("## Headline findings", 1)[1].split(VALIDATION_HEADING, 1)[0]
    body = "\n".join(line for line in body.splitlines() if not line.startswith("!["))
    for text in sorted((r["text"] for r in records), key=len, reverse=True):
        body = body.replace(text, "")
    assert NUMBER.findall(body) == []


def test_the_report_ends_with_the_models_validation_table(quick_study):
    """`reproduce` runs `iotsu-sim validate` into validation/, every check passes (or is
    skipped for a missing package), and the report's last section is that table."""
    report = (quick_study / "REPORT.md").read_text()
    stored = (quick_study / "validation" / "validation.md").read_text()
    assert report.rstrip("\n").endswith(stored.rstrip("\n"))
    assert report.index(VALIDATION_HEADING) > report.index("## (j)")
    table = pd.read_csv(quick_study / "validation" / "validation.csv")
    assert set(table["verdict"]) <= {"pass", "skipped"} and len(table) >= 20
    validation = json.loads((quick_study / "study.json").read_text())["validation"]
    assert validation["fail"] == 0 and validation["pass"] == (table["verdict"] == "pass").sum()


def test_the_report_states_each_question_with_its_figures(quick_study):
    report = (quick_study / "REPORT.md").read_text()
    headline = report.split("## Headline findings", 1)[1].split("\n## ", 1)[0]
    assert len([line for line in headline.splitlines() if line.startswith("| (")]) == 11
    for i, name in enumerate(QUESTIONS):
        key = "abcdefghijk"[i]
        section = report.split(f"## ({key})", 1)[1].split("\n## ", 1)[0]
        assert f"`experiments/{name}.toml`, tier `quick`" in section
        assert "\n- " in section                        # at least one finding
        for stem in FIGURES:
            if stem.startswith(f"{key}_") and (stem != "g_bytes_split"
                                              or has_byte_split(quick_study)):
                assert f"](figures/{stem}.png)" in section


# --- figures

def test_every_figure_exists_as_png_and_pdf(quick_study):
    figures = quick_study / "figures"
    expected = [s for s in FIGURES if s != "g_bytes_split" or has_byte_split(quick_study)]
    assert sorted(p.name for p in figures.iterdir()) == sorted(
        f"{stem}.{ext}" for stem in expected for ext in ("png", "pdf"))
    for stem in expected:
        assert (figures / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (figures / f"{stem}.pdf").read_bytes()[:5] == b"%PDF-"
        assert (figures / f"{stem}.png").stat().st_size > 20_000


def test_figures_redraws_every_figure_identically_without_simulating(quick_study, tmp_path,
                                                                     monkeypatch):
    import simulation.runner
    import simulation.sweeps.runner
    from simulation.cli import main

    def no_simulation(*_args, **_kwargs):
        raise AssertionError("iotsu-sim figures simulated")

    monkeypatch.setattr(simulation.runner, "run", no_simulation)
    monkeypatch.setattr(simulation.sweeps.runner, "simulate", no_simulation)
    copy = tmp_path / "results"
    shutil.copytree(quick_study, copy)
    before = digest(copy / "figures")
    shutil.rmtree(copy / "figures")
    assert main(["figures", str(copy)]) == 0
    assert digest(copy / "figures") == before


# --- resuming and reproducibility

def test_a_second_reproduce_reuses_every_stored_run(quick_study, tmp_path, monkeypatch):
    import simulation.runner
    from simulation.study import reproduce

    def no_simulation(*_args, **_kwargs):
        raise AssertionError("a stored run was simulated again")

    monkeypatch.setattr(simulation.runner, "run", no_simulation)
    copy = tmp_path / "results"
    shutil.copytree(quick_study, copy)
    result = reproduce(copy, "quick", workers=2, progress=False)
    assert result.failed == 0
    for q in result.manifest["questions"]:
        assert q["computed"] == 0 and q["reused"] == q["runs"] > 0, q
    assert result.manifest["validation"]["computed"] is False
    assert (copy / "REPORT.md").read_text() == (quick_study / "REPORT.md").read_text()
    assert digest(copy / "figures") == digest(quick_study / "figures")
    for name in QUESTIONS:
        model = [c for c in pd.read_parquet(copy / name / "runs.parquet").columns
                 if c not in ("wall_s", "memory_per_device_bytes", "peak_rss_mib")]
        pd.testing.assert_frame_equal(pd.read_parquet(copy / name / "runs.parquet")[model],
                                      pd.read_parquet(quick_study / name /
                                                      "runs.parquet")[model])


def test_each_point_keeps_the_devices_of_its_first_replication(quick_study):
    from simulation.analysis import kept_runs, load_run

    for name in QUESTIONS:
        runs = pd.read_parquet(quick_study / name / "runs.parquet")
        kept = kept_runs(quick_study, name)
        first = runs[runs["replication"] == 0]
        assert len(kept) == len(first)
        for _, row in kept.iloc[:3].iterrows():
            run = load_run(row["folder"])
            match = first[first["seed"] == row["seed"]].iloc[0]
            assert run["summary"]["seed"] == row["seed"]
            assert run["devices"]["updated"].mean() == pytest.approx(
                match["updated_fraction"])
            assert run["summary"]["energy_per_device_j"] == pytest.approx(
                match["energy_per_device_j"])


# --- bad input

@pytest.mark.parametrize("args", [["--quick", "--full"], ["--workers", "0"],
                                  ["--workers", "two"], ["--bogus"], ["--out", "FILE"]])
def test_bad_input_is_refused_with_one_line_and_exit_2(tmp_path, args):
    (tmp_path / "FILE").write_text("not a folder")
    args = [str(tmp_path / a) if a == "FILE" else a for a in args]
    out = tmp_path / "out"
    proc = cli("reproduce", "--out", str(out), *args, cwd=ROOT, timeout=60)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stdout == ""
    assert not out.exists()


def test_reproduce_outside_the_repository_says_where_the_experiments_are(tmp_path,
                                                                          monkeypatch):
    from simulation.study import questions

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(questions, "__file__", str(tmp_path / "a" / "b" / "questions.py"))
    with pytest.raises(ScenarioError, match="experiment files"):
        questions.experiments_dir()


# --- size tiers in the experiment format

def test_tiers_override_replications_set_and_grid_key_by_key(tmp_path):
    path = tmp_path / "tiers.toml"
    path.write_text("""
[experiment]
name = "tiers"
replications = 3
[experiment.set]
"fleet.size" = 50
"fleet.cells" = 5
[experiment.grid]
"strategy.name" = ["device-initiated", "device-polling"]
"nat.udp_timeout_s" = [15, 60, 300]
[experiment.quick]
replications = 2
[experiment.quick.set]
"fleet.cells" = 2
[experiment.quick.grid]
"nat.udp_timeout_s" = [60]
[experiment.full.grid]
"fleet.size" = [100, 1000]
""")
    default, quick, full = (load_experiment(path, t) for t in ("default", "quick", "full"))
    assert (default.replications, default.set, len(default.points())) == (
        3, {"fleet.size": 50, "fleet.cells": 5}, 6)
    assert quick.replications == 2 and quick.set == {"fleet.size": 50, "fleet.cells": 2}
    assert quick.grid == {"strategy.name": ["device-initiated", "device-polling"],
                          "nat.udp_timeout_s": [60.0]}
    assert full.set == {"fleet.cells": 5} and list(full.grid) == [
        "strategy.name", "nat.udp_timeout_s", "fleet.size"]
    # a run's seed depends on its point and replication only, not on the tier
    assert {(r.point, r.replication, r.seed) for r in quick.runs()} <= {
        (r.point, r.replication, r.seed) for r in default.runs()}


@pytest.mark.parametrize("tier_table, message", [
    ('[experiment.quick]\nworkers = 2', "unknown key 'workers' in experiment.quick"),
    ('[experiment.full]\nreplications = 0', "experiment.full.replications = 0"),
    ('[experiment.quick.grid]\n"fleet.size" = []', "experiment.quick.grid 'fleet.size'"),
    ('[experiment.full.grid]\n"strategy.name" = ["nope"]', "strategy"),
    ('[experiment.quick.set]\n"fleet.size" = 30\n[experiment.quick.grid]\n"fleet.size" = [5]',
     "'fleet.size' is both in experiment.quick.set and experiment.quick.grid"),
])
def test_a_bad_tier_is_refused_whichever_tier_is_asked_for(tmp_path, tier_table, message):
    path = tmp_path / "bad.toml"
    path.write_text('[experiment]\n[experiment.grid]\n"nat.udp_timeout_s" = [15, 60]\n'
                    + tier_table + "\n")
    with pytest.raises(ScenarioError, match=re.escape(message)):
        load_experiment(path)


def test_every_study_experiment_loads_at_every_tier():
    for name in QUESTIONS:
        sizes = [len(load_experiment(ROOT / "experiments" / f"{name}.toml", t).runs())
                 for t in ("quick", "default", "full")]
        assert sizes[0] <= sizes[1] <= sizes[2], (name, sizes)


def test_every_headline_but_js_has_a_decisive_comparison_on_the_deployment():
    """Each question runs on the deployment, and each but (j), whose own grid is the
    assumptions, and (k), whose grid's variants are rollout policies, names the decisive
    comparison of its headline finding; (j) and the decisive comparisons share one list of
    assumptions."""
    from simulation.study.questions import QUESTIONS as STUDY
    shared = None
    for q in STUDY:
        exp = load_experiment(ROOT / "experiments" / f"{q.name}.toml")
        assert exp.scenario == "deployment", q.name
        decisive = exp.decisive()
        if q.key == "k":
            assert decisive is None and set(exp.variants) == set(exp.grid["variant"])
            continue
        if q.key == "j":
            assert decisive is None and exp.variants
            assert exp.grid["variant"] == list(exp.variants)
            variants = exp.variants
        else:
            assert decisive is not None, q.name
            assert decisive.grid["variant"][0] == "as-configured"
            variants = exp.robustness["variants"]
        assert shared is None or variants == shared
        shared = variants
