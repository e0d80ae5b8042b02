"""One row of `iotsu-sim validate`: a part of the model, the reference it is checked
against (and where that reference comes from), the expected and simulated values, and the
tolerance the README claims for it."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

PASS, FAIL, SKIPPED = "pass", "fail", "skipped"


@dataclass(frozen=True)
class Check:
    part: str           # the part of the model checked
    reference: str      # what it is checked against
    source: str         # where the reference comes from (standard, measurement, real stack)
    expected: float
    simulated: float
    tolerance: float    # largest |simulated - expected| accepted, in `unit`
    unit: str
    basis: str          # what the tolerance is: "exact", "4 standard errors", "30 %"
    verdict: str        # PASS, FAIL or SKIPPED
    note: str = ""      # why it was skipped, or a detail

    @property
    def error(self) -> float:
        return self.simulated - self.expected

    def row(self) -> dict:
        return {**asdict(self), "error": self.error}


def compare(part: str, reference: str, source: str, expected: float, simulated: float,
            tolerance: float, unit: str, basis: str, note: str = "") -> Check:
    """A check that passes when |simulated - expected| <= tolerance (NaN fails)."""
    ok = math.isfinite(simulated) and abs(simulated - expected) <= tolerance
    return Check(part, reference, source, float(expected), float(simulated),
                 float(tolerance), unit, basis, PASS if ok else FAIL, note)


def skipped(part: str, reference: str, source: str, note: str) -> Check:
    """A check that could not run here (an optional package is missing): `note` says
    what it needs and how to install it."""
    nan = math.nan
    return Check(part, reference, source, nan, nan, nan, "", "", SKIPPED, note)


def _number(x: float) -> str:
    """Four significant digits, thousands separated; scientific below 1e-3."""
    if not math.isfinite(x):
        return "n/a"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if x == 0 or abs(x) >= 1e-3:
        return f"{x:.4g}"
    return f"{x:.3e}"


def markdown(checks: list[Check]) -> str:
    """The checks as a Markdown table: part, reference (source), expected, simulated,
    error, tolerance, verdict."""
    lines = ["| part | reference (source) | expected | simulated | error | tolerance | "
             "verdict |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for c in checks:
        unit = f" {c.unit}" if c.unit else ""
        if c.verdict == SKIPPED:
            lines.append(f"| {c.part} | {c.reference} ({c.source}) | n/a | n/a | n/a | n/a | "
                         f"skipped: {c.note} |")
            continue
        rel = (f" ({c.error / c.expected:+.1%})"
               if c.expected and math.isfinite(c.error) and c.error else "")
        tol = "exact" if c.basis == "exact" else f"±{_number(c.tolerance)}{unit} ({c.basis})"
        note = f"; {c.note}" if c.note else ""
        lines.append(f"| {c.part} | {c.reference} ({c.source}) | {_number(c.expected)}{unit} | "
                     f"{_number(c.simulated)}{unit} | {_number(c.error)}{rel} | {tol} | "
                     f"{c.verdict}{note} |")
    return "\n".join(lines) + "\n"


def counted(checks: list[Check]) -> str:
    """`markdown(checks)`, then one line counting passes, failures and skipped checks."""
    n = {v: sum(c.verdict == v for c in checks) for v in (PASS, FAIL, SKIPPED)}
    return (markdown(checks) + f"\n{len(checks)} checks: {n[PASS]} pass, {n[FAIL]} fail, "
            f"{n[SKIPPED]} skipped\n")
