"""`iotsu-sim validate`: every check passes on the model as it is, a check outside its
tolerance fails and makes the command exit 1, a missing optional package gives a skipped
row saying how to install it, and bad input is refused with one line."""
from __future__ import annotations

import math
import subprocess
import sys

import pandas as pd
import pytest

from simulation import cli
from simulation.validation import CHECKS, FAIL, PASS, SKIPPED, checks, references, stacks
from simulation.validation.check import compare
from test_reproduce import quick_study  # noqa: F401 - the shared quick study

COLUMNS = ["part", "reference", "source", "expected", "simulated", "error", "tolerance",
           "unit", "basis", "verdict", "note"]


def test_every_check_passes_and_is_written_as_a_table(quick_study):  # noqa: F811
    """`reproduce` runs the whole `iotsu-sim validate` into validation/ (the quick study
    serves here, so that the suite runs the checks once)."""
    folder = quick_study / "validation"
    table = pd.read_csv(folder / "validation.csv")
    assert sorted(table.columns) == sorted(COLUMNS)
    assert set(table["verdict"]) <= {PASS, SKIPPED}
    assert (table["verdict"] == PASS).sum() >= 20
    # every part the README names is there
    for part in ("wake-ups", "CoAP retransmissions", "CoAP time to give up", "block-wise pull",
                 "TCP download time", "bytes", "NAT cut-off", "energy per report wake-up",
                 "Observe after a NAT rebinding", "flow fidelity"):
        assert table["part"].str.contains(part, regex=False).any(), part
    ok = table[table["verdict"] == PASS]
    assert ((ok["simulated"] - ok["expected"]).abs() <= ok["tolerance"] + 1e-12).all()
    text = (folder / "validation.md").read_text()
    assert text.startswith("| part |")
    assert text.strip().splitlines()[-1].endswith("0 fail, 0 skipped")


def test_a_check_outside_its_tolerance_fails():
    assert compare("x", "r", "s", 10.0, 10.5, 0.5, "s", "exact").verdict == PASS
    assert compare("x", "r", "s", 10.0, 10.51, 0.5, "s", "exact").verdict == FAIL
    assert compare("x", "r", "s", 10.0, math.nan, 0.5, "s", "exact").verdict == FAIL


def test_a_model_off_its_reference_makes_validate_exit_1(monkeypatch, capsys):
    """A block-wise pull 1 % slower than RFC 7959's stop-and-wait rule (here: the
    reference moved by 1 %) fails the serialization check, and the command exits 1."""
    true = references.stop_and_wait_s
    monkeypatch.setattr(references, "stop_and_wait_s", lambda *a: 0.99 * true(*a))
    assert cli.main(["validate", "--only", "serialization", "--workers", "1",
                     "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "| fail" in out and out.strip().endswith("2 checks: 0 pass, 2 fail, 0 skipped")


def test_a_missing_optional_package_is_a_skipped_row_with_its_install(monkeypatch, capsys):
    def missing(*_a, **_k):
        raise ImportError("No module named 'aiocoap'")
    monkeypatch.setattr(stacks, "aiocoap_block2_pull_bytes", missing)
    rows = checks.byte_counts()
    skipped = [r for r in rows if r.verdict == SKIPPED]
    assert len(skipped) == 1 and "pip install" in skipped[0].note
    assert "aiocoap" in skipped[0].note
    assert all(r.verdict == PASS for r in rows if r.verdict != SKIPPED)


@pytest.mark.parametrize("args,needle", [
    (["--only", "nope"], "no check named 'nope'"),
    (["--workers", "0"], "--workers must be at least 1"),
])
def test_bad_input_is_refused_with_one_line(args, needle, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "simulation", "validate", *args, "--out",
                           str(tmp_path / "v")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and needle in proc.stderr
    assert not (tmp_path / "v").exists()


def test_the_checks_are_listed_in_the_help():
    """The help names every check (argparse may wrap a name at its hyphen)."""
    text = cli.build_parser()._subparsers._group_actions[0].choices["validate"].format_help()
    for name in CHECKS:
        assert name in "".join(text.split())
