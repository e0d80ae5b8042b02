"""`<out>/REPORT.md`: each question, its figures, and findings whose numbers are read from
the results, never typed by hand.

Every number of a finding is a `Num`: its value, how it is shown, and its source, a recipe
that says where it comes from (`<out>/report.json` keeps them all):

* `{"study": NAME, "where": {KEY: VALUE}, "expr": EXPR, "stat": "mean" | "ci95"}`: the mean
  (or the 95 % Student-t half-width) over the replications of the point `where` of
  `pandas.DataFrame.eval(EXPR)` on the question's `runs.parquet` (EXPR is a summary field or
  a formula of them, e.g. `manager_bytes_out / fleet_size`);
* `{"study": NAME, "grid": KEY, "value": V}`: a value of the question's grid;
* `{"study": NAME, "manifest": FIELD}`: a field of the sweep's `manifest.json`;
* `{"op": "ratio" | "change_pct" | "saving_pct", "args": [A, B]}`: A / B,
  100 (A / B - 1) or 100 (1 - A / B);

each times `scale` if given (100 for a fraction shown in %). The tests recompute every
number of the report from its source and the stored tables.

Findings are written for whatever strategies and values the grids hold (they name the
fastest, the slowest, the most affected), so that a strategy added to a grid needs no
change here.

Each question's first finding is its headline. Where the question has a decisive
comparison under the modelling assumptions (`<name>/assumptions/`), `verdict` computes the
headline again from that sweep, variant by variant (`AssumptionResults`), and says whether
its claim holds under each one, or the range of the number it rests on. Questions (a) to
(d) also get `pareto_table`: which strategy is on the Pareto front of energy against p95
time to update at each value of their grid.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from simulation import analysis
from simulation.figures.study import FIGURES, PROFILES
from simulation.study.questions import ASSUMPTIONS, QUESTIONS
from simulation.sweeps.pareto import on_front
from simulation.sweeps.experiment import AS_CONFIGURED, VARIANT
from simulation.sweeps.ranking import COMPLETE, comparable, leads
from simulation.sweeps.stats import ci95_half_width
from simulation.sweeps.store import write_atomic

STRATEGY = "strategy.name"


# --- numbers and where they come from

def render(value: float, kind: str = "n") -> str:
    """How a number is shown. `n`: no decimals from 100 on, one from 10, two from 1, else
    three significant digits; `pct` (a percentage) and `x` (a ratio): no decimals from 100
    on (`x`: from 10), else one (two below 1 for `pct`); `ci` (a half-width): no decimals
    from 10 on, else one; `exact`: as it is (a grid value, a count); `count` (a mean of
    counts): whole, else one decimal below 100."""
    v = float(value)
    if kind == "exact":
        text = f"{v:,.15g}"
    elif kind == "count":
        text = f"{v:,.0f}" if abs(v) >= 100 or v == round(v) else f"{v:.1f}"
    elif kind == "x":
        text = f"{v:,.0f}" if abs(v) >= 10 else f"{v:.1f}"
    elif kind == "pct":
        text = f"{v:,.0f}" if abs(v) >= 100 else f"{v:.1f}" if abs(v) >= 1 else f"{v:.2f}"
    elif kind == "ci":
        text = f"{v:,.0f}" if abs(v) >= 10 else f"{v:.1f}"
    elif abs(v) >= 100:
        text = f"{v:,.0f}"
    elif abs(v) >= 10:
        text = f"{v:.1f}"
    elif abs(v) >= 1:
        text = f"{v:.2f}"
    else:
        text = f"{v:.3g}"
    return text[1:] if text.startswith("-") and not text.strip("-0.,") else text


@dataclass(frozen=True)
class Num:
    value: float
    source: dict
    kind: str = "n"

    @property
    def text(self) -> str:
        return render(self.value, self.kind)

    def scaled(self, scale: float, kind: str | None = None) -> Num:
        return Num(self.value * scale, {**self.source, "scale": self.source.get("scale", 1)
                                        * scale}, kind or self.kind)


def ratio(a: Num, b: Num) -> Num:
    return Num(a.value / b.value, {"op": "ratio", "args": [a.source, b.source]}, "x")


def change_pct(a: Num, b: Num) -> Num:
    """How much larger a is than b, in %."""
    return Num(100 * (a.value / b.value - 1), {"op": "change_pct",
                                               "args": [a.source, b.source]}, "pct")


def saving_pct(a: Num, b: Num) -> Num:
    """How much smaller a is than b, in %."""
    return Num(100 * (1 - a.value / b.value), {"op": "saving_pct",
                                               "args": [a.source, b.source]}, "pct")


class Results:
    """The stored tables of the study, read once, as sources of numbers."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._runs: dict[str, pd.DataFrame] = {}
        self._manifests: dict[str, dict] = {}

    def runs(self, name: str) -> pd.DataFrame:
        if name not in self._runs:
            self._runs[name] = pd.read_parquet(self.folder / name / "runs.parquet")
        return self._runs[name]

    def manifest(self, name: str) -> dict:
        if name not in self._manifests:
            self._manifests[name] = json.loads(
                (self.folder / name / "manifest.json").read_text())
        return self._manifests[name]

    def grid(self, name: str, key: str) -> list:
        return self.manifest(name)["grid"][key]

    def value(self, name: str, where: dict, expr: str, stat: str = "mean",
              kind: str = "n") -> Num:
        rows = analysis.select(self.runs(name), where)
        x = pd.to_numeric(rows.eval(expr), errors="coerce").astype(float)
        v = float(x.mean()) if stat == "mean" else ci95_half_width(x)
        return Num(v, {"study": name, "where": where, "expr": expr, "stat": stat}, kind)

    def grid_value(self, name: str, key: str, value) -> Num:
        assert value in self.grid(name, key)
        return Num(float(value), {"study": name, "grid": key, "value": value}, "exact")

    def manifest_value(self, name: str, key: str) -> Num:
        return Num(float(self.manifest(name)[key]), {"study": name, "manifest": key},
                   "exact")

    def strategies(self, name: str) -> list[str]:
        return list(self.grid(name, STRATEGY))

    def ends(self, name: str, key: str) -> tuple:
        """The smallest and the largest value of grid key `key`."""
        values = sorted(self.grid(name, key))
        return values[0], values[-1]

    def per_strategy(self, name: str, key: str, values: tuple, expr: str,
                     stat: str = "mean") -> dict[str, tuple[Num, ...]]:
        """For each strategy of the grid, `expr` at each of `values` of grid key `key`."""
        return {s: tuple(self.value(name, {STRATEGY: s, key: v}, expr, stat) for v in values)
                for s in self.strategies(name)}


class AssumptionResults(Results):
    """A question's decisive comparison under one modelling assumption (variant), read as
    if it were the question's own results: `<name>/assumptions/`, its rows of `variant`,
    its grid without the `variant` key; every number's source names that sweep and the
    variant."""

    def __init__(self, base: Results, variant: str):
        super().__init__(base.folder)
        self.base, self.variant = base, variant

    @staticmethod
    def study(name: str) -> str:
        return f"{name}/{ASSUMPTIONS}"

    def runs(self, name: str) -> pd.DataFrame:
        rows = self.base.runs(self.study(name))
        return rows[rows[VARIANT] == self.variant]

    def manifest(self, name: str) -> dict:
        m = self.base.manifest(self.study(name))
        return {**m, "grid": {k: v for k, v in m["grid"].items() if k != VARIANT}}

    def value(self, name: str, where: dict, expr: str, stat: str = "mean",
              kind: str = "n") -> Num:
        return self.base.value(self.study(name), {**where, VARIANT: self.variant}, expr,
                               stat, kind)

    def grid_value(self, name: str, key: str, value) -> Num:
        return self.base.grid_value(self.study(name), key, value)

    def manifest_value(self, name: str, key: str) -> Num:
        return self.base.manifest_value(self.study(name), key)


@dataclass
class Finding:
    """A sentence of the report, as parts (text and `Num`s). A question's headline finding
    also says what it claims, so that it can be checked under each modelling assumption
    (`verdict`): `claim`, parts that read as the claim ("`mqtt-http` has the shortest p95
    time to update"; it holds where the same parts come out), or `measure`, the number it
    rests on (its range under the assumptions is given); and `contenders`, the strategies
    its decisive comparison needs, per grid key (a list: the strategies; a key it does not
    name keeps every value of the decisive grid). A claim that a strategy leads names
    `leaders`: the leader, then the strategies tied with it (`tied`)."""
    question: str
    parts: list = field(default_factory=list)
    claim: tuple = ()
    measure: Num | None = None
    what: tuple = ()               # what the measure is, as parts
    unit: str = ""                 # shown after each value of the measure
    contenders: dict = field(default_factory=dict)
    leaders: tuple = ()            # a leader claim: the leader, then those tied with it

    def add(self, *parts) -> Finding:
        self.parts += parts
        return self

    def says(self, *claim, contenders=(), leaders=()) -> Finding:
        self.claim, self.contenders = claim, _contenders(contenders)
        self.leaders = tuple(leaders)
        return self

    def rests_on(self, measure: Num, *what, unit: str = "", contenders=()) -> Finding:
        self.measure, self.what, self.unit = measure, what, unit
        self.contenders = _contenders(contenders)
        return self

    @property
    def claim_text(self) -> str:
        return "".join(p.text if isinstance(p, Num) else str(p) for p in self.claim)

    @property
    def text(self) -> str:
        return "".join(p.text if isinstance(p, Num) else str(p) for p in self.parts)

    @property
    def numbers(self) -> list[Num]:
        return [p for p in self.parts if isinstance(p, Num)]

    def valid(self) -> bool:
        return all(math.isfinite(n.value) for n in self.numbers)


def _contenders(given) -> dict:
    """Contenders per grid key; a list names strategies."""
    return dict(given) if isinstance(given, dict) else {STRATEGY: list(given)} if given \
        else {}


def _finite(n: Num) -> bool:
    return math.isfinite(n.value)


def _s(value: Num, unit: str) -> list:
    return [value, f" {unit}"]


def _pm(ci: Num) -> list:
    ci = Num(ci.value, ci.source, "ci")
    return [" (± ", ci, ")"] if _finite(ci) else []


def _names(names: list[str]) -> str:
    names = [f"`{n}`" for n in names]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def tied(r: Results, name: str, first: str, others, where: dict, expr: str) -> list[str]:
    """The strategies of `others` not clearly behind `first` by `expr` (smaller is better):
    the range of their replications reaches below the largest of `first`'s."""
    def spread(s):
        rows = analysis.select(r.runs(name), {STRATEGY: s, **where})
        x = pd.to_numeric(rows.eval(expr), errors="coerce").astype(float)
        return float(x.min()), float(x.max())
    top = spread(first)[1]
    return [s for s in others if s != first and spread(s)[0] <= top]


def _tie(ties: list[str]) -> list:
    return [" (tied with ", _names(ties), ": their replications overlap)"] if ties else []


def _leads(fast: str, ties: list[str], what: str) -> list:
    """A leader claim's parts: "`fast` has the shortest ...", with its ties."""
    return ["`", fast, f"` has the shortest {what}",
            *([", tied with ", _names(ties)] if ties else [])]


# --- the findings, question by question

def findings_a(r: Results) -> list[Finding]:
    name = "fleet-size"
    small, big = r.ends(name, "fleet.size")
    at = {s: {STRATEGY: s, "fleet.size": big} for s in r.strategies(name)}
    p95 = {s: r.value(name, w, "ttu_p95_s") for s, w in at.items()}
    done = sorted((s for s in p95 if _finite(p95[s])), key=lambda s: p95[s].value)
    out = []
    if done:
        fast, slow = done[0], done[-1]
        ties = tied(r, name, fast, done, {"fleet.size": big}, "ttu_p95_s")
        f = Finding("a").says(*_leads(fast, ties, "p95 time to update"),
                              contenders=[fast, *(ties or done[1:2])], leaders=[fast, *ties])
        f.add("At ", r.grid_value(name, "fleet.size", big), " devices, `", fast,
              "` has the shortest p95 time to update, ", *_s(p95[fast], "s"),
              *_pm(r.value(name, at[fast], "ttu_p95_s", "ci95")), *_tie(ties))
        if slow != fast:
            f.add("; `", slow, "` needs ", *_s(p95[slow], "s"), " (",
                  ratio(p95[slow], p95[fast]), "x)")
        never = [s for s in p95 if s not in done]
        if never:
            most = max(never, key=lambda s: r.value(name, at[s], "updated_fraction").value)
            f.add("; ", _names(never), " ha", "s" if len(never) == 1 else "ve",
                  " no p95 within the horizon (", "`" + most + "` " if len(never) > 1 else "",
                  r.value(name, at[most], "updated_fraction").scaled(100, "pct"),
                  " % updated)")
        out.append(f.add("."))
    msgs = "manager_msgs_in + manager_msgs_out"
    load = r.per_strategy(name, "fleet.size", (small, big), msgs)
    heavy = max(load, key=lambda s: load[s][1].value)
    light = min(load, key=lambda s: load[s][1].value)
    f = Finding("a").add("From ", r.grid_value(name, "fleet.size", small), " to ",
                         r.grid_value(name, "fleet.size", big), " devices the manager's ",
                         "messages grow ", ratio(load[heavy][1], load[heavy][0]), "x with `",
                         heavy, "` (", load[heavy][1].scaled(1e-6), " million messages at ",
                         r.grid_value(name, "fleet.size", big), " devices)")
    if light != heavy:
        f.add("; `", light, "` sends and receives ", ratio(load[heavy][1], load[light][1]),
              "x fewer")
    out.append(f.add("."))
    util = {s: r.value(name, at[s], "manager_utilization_peak") for s in at}
    busiest = max(util, key=lambda s: util[s].value)
    f = Finding("a").add(
        "The manager is busiest with `", busiest, "`: at ",
        r.grid_value(name, "fleet.size", big), " devices its peak second asks for ",
        util[busiest].scaled(100, "pct"), " % of its capacity (",
        r.value(name, at[busiest], "manager_peak_rps"), " messages/s)",
        ", more than it can serve, so requests queue" if util[busiest].value > 1 else "")
    if "manager_wait_max_s" in r.runs(name):
        wait = r.value(name, at[busiest], "manager_wait_mean_s")
        f.add("; its messages wait ", wait.scaled(1e3), " ms on average in its queue (at "
              "most ", r.value(name, at[busiest], "manager_wait_max_s"), " s)")
    out.append(f.add("."))
    if done:
        fast = done[0]
        a = r.value(name, {STRATEGY: fast, "fleet.size": small}, "ttu_p95_s")
        if _finite(a):
            out.append(Finding("a").add(
                "`", fast, "`'s p95 time to update goes from ", *_s(a, "s"), " at ",
                r.grid_value(name, "fleet.size", small), " devices to ", *_s(p95[fast], "s"),
                " at ", r.grid_value(name, "fleet.size", big), "."))
    return out


def findings_b(r: Results) -> list[Finding]:
    name, key = "nat-timeout", "nat.udp_timeout_s"
    short, long = r.ends(name, key)
    out = []
    upd = r.per_strategy(name, key, (short, long), "updated_fraction")
    robust = [s for s in upd if upd[s][0].value >= 0.99]
    if robust:
        worst = min(robust, key=lambda s: upd[s][0].value)
        f = Finding("b").says(_names(robust), " update", "s" if len(robust) == 1 else "",
                              " the fleet")
        f.add(
            "Even when the NAT forgets a binding after ", r.grid_value(name, key, short),
            " s, ", _names(robust), " update", "s" if len(robust) == 1 else "",
            " the fleet")
        tied = len({upd[s][0].scaled(100, "pct").text for s in robust}) == 1
        f.add(" (", "each " if tied and len(robust) > 1 else "" if tied else
              f"the fewest, `{worst}`: ", upd[worst][0].scaled(100, "pct"), " % updated).")
        out.append(f)
    fragile = [s for s in upd if s not in robust]
    if fragile:
        s = max(fragile, key=lambda s: abs(upd[s][1].value - upd[s][0].value))
        out.append(Finding("b").add(
            "`", s, "` updates ", upd[s][0].scaled(100, "pct"), " % of the fleet with a ",
            r.grid_value(name, key, short), " s NAT timeout and ",
            upd[s][1].scaled(100, "pct"), " % with ", r.grid_value(name, key, long), " s."))
    p95 = r.per_strategy(name, key, (short, long), "ttu_p95_s")
    ci = r.per_strategy(name, key, (short, long), "ttu_p95_s", "ci95")
    p95 = {s: v for s, v in p95.items() if s in robust and _finite(v[0]) and _finite(v[1])}
    if p95:
        # a change counts when the two 95 % intervals do not overlap
        moved = [s for s in p95 if abs(p95[s][0].value - p95[s][1].value)
                 > np.nan_to_num(ci[s][0].value + ci[s][1].value, nan=np.inf)]
        s = max(moved or p95, key=lambda s: abs(p95[s][0].value / p95[s][1].value - 1))
        a, b = p95[s]
        f = Finding("b")
        if moved:
            f.add("The NAT timeout moves the p95 time to update most for `", s, "`: ")
        else:
            f.add("No strategy's p95 time to update changes with the NAT timeout beyond ",
                  "its confidence intervals; the largest change is `", s, "`'s: ")
        out.append(f.add(*_s(a, "s"), *_pm(ci[s][0]), " at ", r.grid_value(name, key, short),
                         " s against ", *_s(b, "s"), *_pm(ci[s][1]), " at ",
                         r.grid_value(name, key, long), " s (", change_pct(a, b), " %)."))
    return out


def findings_c(r: Results) -> list[Finding]:
    name, key = "wake-interval", "device.wake_interval_s"
    short, long = r.ends(name, key)
    out = []
    p95 = r.per_strategy(name, key, (short, long), "ttu_p95_s")
    done = [s for s in p95 if _finite(p95[s][0]) and _finite(p95[s][1])]
    if done:
        fast = min(done, key=lambda s: p95[s][0].value)
        slow = max(done, key=lambda s: p95[s][0].value)
        ties = tied(r, name, fast, done, {key: short}, "ttu_p95_s")
        runner_up = sorted((x for x in done if x != fast), key=lambda x: p95[x][0].value)
        f = Finding("c").says(*_leads(fast, ties, "p95 time to update"),
                              contenders=[fast, *(ties or runner_up[:1])],
                              leaders=[fast, *ties])
        f.add(
            "With wake-ups every ", r.grid_value(name, key, short), " s, `", fast,
            "` has the shortest p95 time to update, ", *_s(p95[fast][0], "s"), *_tie(ties))
        if slow != fast:
            f.add(", ", ratio(p95[slow][0], p95[fast][0]), "x sooner than `", slow, "` (",
                  *_s(p95[slow][0], "s"), ")")
        out.append(f.add("."))
        longest = max(done, key=lambda s: p95[s][1].value)
        shortest = min(done, key=lambda s: p95[s][1].value)
        wake = r.grid_value(name, key, long)
        out.append(Finding("c").add(
            "Waking every ", wake, " s, the p95 time to update of each strategy that has one is ",
            ratio(p95[shortest][1], wake), " to ", ratio(p95[longest][1], wake),
            " wake intervals (", *_s(p95[shortest][1], "s"), " to ", *_s(p95[longest][1], "s"),
            "): the wake-up interval sets the pace."))
    energy = r.per_strategy(name, key, (short, long), "energy_per_device_j")
    s = max(energy, key=lambda s: energy[s][0].value / energy[s][1].value)
    out.append(Finding("c").add(
        "Frequent wake-ups cost energy: over the horizon a `", s, "` device spends ",
        *_s(energy[s][0], "J"), " waking every ", r.grid_value(name, key, short), " s and ",
        *_s(energy[s][1], "J"), " waking every ", r.grid_value(name, key, long), " s (",
        ratio(energy[s][0], energy[s][1]), "x)."))
    return out


def findings_d(r: Results) -> list[Finding]:
    name, key = "coverage", "link.preset"
    presets = r.grid(name, key)
    good, bad = presets[0], max(presets, key=lambda p: r.value(
        name, {key: p}, "energy_per_device_j").value)
    out = []
    energy = r.per_strategy(name, key, (good, bad), "energy_per_device_j")
    rat = {s: ratio(b, a) for s, (a, b) in energy.items()}
    hi = max(rat, key=lambda s: rat[s].value)
    lo = min(rat, key=lambda s: rat[s].value)
    f = Finding("d").says("`", hi, "` is the most affected", *(
        ["; `", lo, "` the least"] if lo != hi else []), contenders=sorted({hi, lo}))
    f.add(
        "In `", bad, "` a device spends up to ", rat[hi], "x the energy of `", good, "` (`",
        hi, "`: ", *_s(energy[hi][1], "J"), " against ", *_s(energy[hi][0], "J"),
        " per device over the horizon)")
    if lo != hi:
        f.add("; the least affected is `", lo, "` (", rat[lo], "x",
              ": its devices' hop is their local radio, not the cellular link" if
              lo == "delegated" else "", ")")
    out.append(f.add("."))
    p50 = r.per_strategy(name, key, (good, bad), "ttu_p50_s")
    done = [s for s in p50 if _finite(p50[s][0]) and _finite(p50[s][1])]
    if done:
        s = max(done, key=lambda s: p50[s][1].value / p50[s][0].value)
        out.append(Finding("d").add(
            "The median time to update of `", s, "` grows from ", *_s(p50[s][0], "s"),
            " in `", good, "` to ", *_s(p50[s][1], "s"), " in `", bad, "` (",
            ratio(p50[s][1], p50[s][0]), "x)."))
    short = {s: v for s, (v,) in r.per_strategy(name, key, (bad,), "updated_fraction").items()
             if 0.5 <= v.value < 0.99}
    if short:
        s = min(short, key=lambda s: short[s].value)
        out.append(Finding("d").add(
            "In `", bad, "` ", _names(sorted(short)), " leave", "s" if len(short) == 1 else "",
            " part of the fleet without the update within the horizon (`", s, "`: ",
            short[s].scaled(100, "pct"), " % updated)."))
    return out


def findings_e(r: Results) -> list[Finding]:
    name, key = "gateway-fanout", "gateway.devices_per_gateway"
    one, many = r.ends(name, key)
    out = []
    backhaul = "manager_bytes_out / fleet_size"
    for i, fetch in enumerate(r.grid(name, "gateway.fetch")):
        a = r.value(name, {"gateway.fetch": fetch, key: one}, backhaul)
        b = r.value(name, {"gateway.fetch": fetch, key: many}, backhaul)
        if i == 0:
            out.append(Finding("e").rests_on(saving_pct(b, a), "the saving", unit=" %").add(
                "Sharing a gateway among ", r.grid_value(name, key, many), " devices cuts the ",
                "manager's backhaul bytes per device by ", saving_pct(b, a), " % (",
                a.scaled(1e-3), " kB with ", r.grid_value(name, key, one), " device per ",
                "gateway to ", b.scaled(1e-3), " kB; the gateway fetches by `", fetch, "`)."))
        else:
            out.append(Finding("e").add(
                "With `", fetch, "` the saving is ", saving_pct(b, a), " % (",
                a.scaled(1e-3), " kB to ", b.scaled(1e-3), " kB per device)."))
    for fetch in r.grid(name, "gateway.fetch"):
        a = r.value(name, {"gateway.fetch": fetch, key: one}, "ttu_p95_s")
        b = r.value(name, {"gateway.fetch": fetch, key: many}, "ttu_p95_s")
        if _finite(a) and _finite(b):
            out.append(Finding("e").add(
                "Sharing the local hop, the p95 time to update (`", fetch, "`) is ",
                *_s(b, "s"), *_pm(r.value(name, {"gateway.fetch": fetch, key: many},
                                          "ttu_p95_s", "ci95")), " with ",
                r.grid_value(name, key, many), " devices per gateway against ", *_s(a, "s"),
                *_pm(r.value(name, {"gateway.fetch": fetch, key: one}, "ttu_p95_s", "ci95")),
                " with ", r.grid_value(name, key, one), "."))
    return out


def findings_f(r: Results) -> list[Finding]:
    name, key = "delta-ratio", "update.delta_ratio"
    ratios = sorted(r.grid(name, key))
    full = max(ratios)
    delta = 0.117 if 0.117 in ratios else ratios[0]     # the measured bsdiff patch
    if delta == full:
        return []
    at_full, at_delta = {key: full}, {key: delta}
    values = {f: (r.value(name, at_delta, f), r.value(name, at_full, f))
              for f in ("bytes_down_per_device", "energy_per_device_j", "ttu_p95_s")}
    out = [Finding("f").rests_on(saving_pct(*values["energy_per_device_j"]),
                                 "the saving of energy", unit=" %").add(
        "A partial update of ", r.grid_value(name, key, delta), " of the image cuts the ",
        "downlink bytes per device by ", saving_pct(*values["bytes_down_per_device"]),
        " % and the energy per device by ", saving_pct(*values["energy_per_device_j"]),
        " % against the full image (", *_s(values["energy_per_device_j"][0], "J"),
        " against ", *_s(values["energy_per_device_j"][1], "J"), ").")]
    a, b = values["ttu_p95_s"]
    if _finite(a) and _finite(b):
        out.append(Finding("f").add(
            "Its p95 time to update is ", *_s(a, "s"), " against ", *_s(b, "s"),
            " for the full image (", saving_pct(a, b), " % sooner): the wait for a wake-up,",
            " not the download, dominates."))
    return out


def findings_g(r: Results) -> list[Finding]:
    name, key = "security", "security.mode"
    modes = r.grid(name, key)
    if "none" not in modes:
        return []
    out = []
    bytes_ = "bytes_up_per_device + bytes_down_per_device"
    for mode in [m for m in modes if m != "none"][::-1]:    # every hop secured first
        radio = r.per_strategy(name, key, (mode, "none"), bytes_)
        energy = r.per_strategy(name, key, (mode, "none"), "energy_per_device_j")
        over = {s: (change_pct(*radio[s]), change_pct(*energy[s])) for s in radio}
        lo = min(over, key=lambda s: over[s][0].value)
        hi = max(over, key=lambda s: over[s][0].value)
        elo = min(over, key=lambda s: over[s][1].value)
        ehi = max(over, key=lambda s: over[s][1].value)
        out.append(Finding("g").rests_on(over[ehi][1], "what `", mode, "` adds to `", ehi,
                                         "`'s energy", unit=" %", contenders=[ehi]).add(
            "`", mode, "` adds ", over[lo][0], " % (`", lo, "`) to ", over[hi][0], " % (`", hi,
            "`) to the bytes on a device's radio link and ", over[elo][1], " % (`", elo,
            "`) to ", over[ehi][1], " % (`", ehi, "`) to its energy."))
    runs = r.runs(name)
    parts = ("payload", "header", "security", "wasted")
    if all(f"{p}_bytes_per_device" in runs for p in parts) and "bytes_per_device" in runs:
        mode = modes[-1]                                # as in the bytes split figure
        s = "device-initiated" if "device-initiated" in r.strategies(name) else \
            r.strategies(name)[0]
        w = {STRATEGY: s, key: mode}
        total = r.value(name, w, "bytes_per_device")
        share = {p: ratio(r.value(name, w, f"{p}_bytes_per_device"), total).scaled(100, "pct")
                 for p in parts}
        out.append(Finding("g").add(
            "Of the ", total.scaled(1e-3), " kB a `", s, "` device exchanges with `", mode,
            "`, ", share["payload"], " % is payload, ", share["header"], " % protocol headers, ",
            share["security"], " % security and ", share["wasted"], " % wasted ",
            "transmissions."))
    return out


def findings_h(r: Results) -> list[Finding]:
    name, key = "cell-contention", "fleet.cells"
    cells = sorted(r.grid(name, key), reverse=True)     # fewest devices per cell first
    alone, crowded = cells[0], cells[-1]
    per_cell = "fleet_size / `fleet.cells`"
    out = []
    for s in r.strategies(name):
        lone, crowd = {STRATEGY: s, key: alone}, {STRATEGY: s, key: crowded}
        a, b = r.value(name, lone, "ttu_p95_s"), r.value(name, crowd, "ttu_p95_s")
        n_lone = r.value(name, lone, per_cell, kind="exact")
        f = Finding("h")
        if _finite(a) and _finite(b):
            f.rests_on(ratio(b, a), "the growth of `", s, "`'s p95 time to update", unit="x",
                       contenders=[s])
        f.add(
            "`", s, "`: with ", n_lone, " device", "" if n_lone.value == 1 else "s",
            " per cell the p95 time to update is ", *_s(a, "s"), "; with ",
            r.value(name, crowd, per_cell, kind="exact"), " devices sharing a cell, ")
        if _finite(b):
            f.add(*_s(b, "s"), " (", ratio(b, a), "x).")
        else:
            f.add("only ", r.value(name, crowd, "updated_fraction").scaled(100, "pct"),
                  " % are updated by the horizon.")
        out.append(f)
    stretch = {s: v for s, (v,) in
               r.per_strategy(name, key, (crowded,), "cell_peak_stretch").items()}
    s = max(stretch, key=lambda s: stretch[s].value)
    lone, crowd = {STRATEGY: s, key: alone}, {STRATEGY: s, key: crowded}
    out.append(Finding("h").add(
        "At ", r.value(name, crowd, per_cell, kind="exact"), " devices per cell a block takes ",
        "up to ", stretch[s], "x its time on an idle cell (`", s, "`), and CoAP's ",
        "retransmissions add ", change_pct(r.value(name, crowd, "bytes_down_per_device"),
                                           r.value(name, lone, "bytes_down_per_device")),
        " % to the downlink bytes per device."))
    return out


def findings_i(r: Results) -> list[Finding]:
    name, key, session = "mqtt-session", "device.wake_interval_s", "mqtt.session"
    modes = r.grid(name, session)
    if set(modes) != {"keep-alive", "reconnect"}:
        return []
    wakes = sorted(r.grid(name, key))

    def at(mode, wake, expr):
        return r.value(name, {session: mode, key: wake}, expr)

    energy = {w: (at("keep-alive", w, "energy_per_device_j"),
                  at("reconnect", w, "energy_per_device_j")) for w in wakes}
    keep_cheaper = [w for w in wakes if energy[w][0].value < energy[w][1].value]
    out = []
    if keep_cheaper and len(keep_cheaper) < len(wakes):
        last = max(keep_cheaper)
        first = min(w for w in wakes if w > last)
        out.append(Finding("i").says(
            "reconnecting at each wake-up is cheaper from wake-ups every ",
            r.grid_value(name, key, first), " s on", contenders={key: [last, first]}).add(
            "Keeping the session open costs less energy than reconnecting up to wake-ups "
            "every ", r.grid_value(name, key, last), " s (", *_s(energy[last][0], "J"),
            " against ", *_s(energy[last][1], "J"), " per device); from ",
            r.grid_value(name, key, first), " s on, reconnecting at each wake-up is cheaper (",
            *_s(energy[first][1], "J"), " against ", *_s(energy[first][0], "J"), ")."))
    longest = wakes[-1]
    keep, again = energy[longest]
    out.append(Finding("i").rests_on(ratio(keep, again), "the kept session's energy over "
                                     "reconnecting's", unit="x").add(
        "Waking every ", r.grid_value(name, key, longest), " s, the kept session's PINGREQs "
        "cost ", ratio(keep, again), "x the energy of reconnecting (", *_s(keep, "J"),
        " against ", *_s(again, "J"), ")."))
    p95 = (at("keep-alive", longest, "ttu_p95_s"), at("reconnect", longest, "ttu_p95_s"))
    if _finite(p95[0]) and _finite(p95[1]):
        out.append(Finding("i").add(
            "But the kept session brings the update sooner, at the next PINGREQ rather than "
            "the next wake-up: p95 time to update ", *_s(p95[0], "s"), " against ",
            *_s(p95[1], "s"), " (", ratio(p95[1], p95[0]), "x sooner)."))
    return out


#: what a ranking by a summary field reads as: field, "the ... strategy", unit
RANKINGS = (("ttu_p95_s", "fastest (p95 time to update)", "s"),
            ("energy_per_device_j", "most frugal (energy per device)", "J"))


def findings_j(r: Results) -> list[Finding]:
    """Each ranking of the baseline under every modelling assumption of the robustness
    sweep, one changed at a time: stated plainly if it holds under all of them, else with
    the assumptions under which it does not."""
    name = "robustness"
    summary = analysis.study_summary(r.folder, name)
    out = []
    for field, reads, unit in RANKINGS:
        winner, table = leads(comparable(summary, field), field, AS_CONFIGURED)
        if not winner:
            continue
        margins = {}
        for row in table.itertuples(index=False):
            v = row.variant

            def mean(s):
                return r.value(name, {STRATEGY: s, "variant": v}, field)
            margins[v] = (row.first, mean(winner), mean(row.other), row.other)
        _, w0, o0, other0 = margins[AS_CONFIGURED]
        f = Finding("j").add("As configured, `", winner, "` is the ", reads, ": ",
                             *_s(w0, unit), " against `", other0, "`'s ", *_s(o0, unit))
        left_out = sorted(set(summary[STRATEGY]) - set(comparable(summary, field)[STRATEGY]))
        if left_out:
            f.add(" (", _names(left_out), " not ranked: its devices' energy is a local "
                  "radio's, its gateway not counted)")
        lost = [v for v, m in margins.items() if m[0] != winner]
        if not lost:
            kept = [v for v in margins if v != AS_CONFIGURED]
            lows = min(kept, key=lambda v: margins[v][2].value / margins[v][1].value)
            f.add("; it stays first under every assumption changed (", _names(kept),
                  "), its narrowest lead being ", change_pct(margins[lows][2], margins[lows][1]),
                  " % (`", lows, "`).")
        else:
            f.add("; it is first only if the assumptions hold: ")
            for i, v in enumerate(lost):
                first, w, o, _ = margins[v]
                f.add("; " if i else "", "with `", v, "`, `", first, "` is first (",
                      *_s(o, unit))
                if _finite(w):
                    f.add(" against ", *_s(w, unit), ")")
                else:
                    f.add("; `", winner, "` does not update the fleet there)")
            f.add(".")
        out.append(f)
    upd = {s: r.value(name, {STRATEGY: s, "variant": AS_CONFIGURED}, "updated_fraction")
           for s in r.strategies(name)}
    complete = [s for s in upd if upd[s].value >= COMPLETE]
    for s in complete:
        drops = []
        for v in r.grid(name, "variant"):
            u = r.value(name, {STRATEGY: s, "variant": v}, "updated_fraction")
            if u.value < COMPLETE:
                drops.append((v, u))
        if drops:
            f = Finding("j").add("`", s, "` updates the fleet as configured but not ")
            for i, (v, u) in enumerate(drops):
                f.add(", " if i else "", "with `", v, "` (", u.scaled(100, "pct"), " %)")
            out.append(f.add("."))
    return out


#: what `delegated`'s energy is, wherever it is compared with the cellular strategies'
DELEGATED_ENERGY = ("`delegated`'s energy is its devices' local radio: its gateway, "
                    "mains-powered, is not counted")


def pareto_table(r: Results, key: str) -> list[Finding]:
    """The operator's choice per fleet profile, as the lines of a table: a row per
    strategy, a column per value of the profile's grid key; a cell gives the strategy's
    energy per device and p95 time to update (means over replications) where it is on the
    Pareto front of both (minimised; a strategy without a p95 is off it), else `-`."""
    name, grid_key = PROFILES[key]
    values = r.grid(name, grid_key)
    strategies = r.strategies(name)
    cells = {}
    for v in values:
        at = {s: {STRATEGY: s, grid_key: v} for s in strategies}
        energy = {s: r.value(name, w, "energy_per_device_j") for s, w in at.items()}
        p95 = {s: r.value(name, w, "ttu_p95_s") for s, w in at.items()}
        front = on_front(np.array([[energy[s].value, p95[s].value] for s in strategies]))
        for s, ok in zip(strategies, front, strict=True):
            cells[s, v] = [energy[s], " J, ", p95[s], " s"] if ok else ["-"]
    head = Finding(key).add("| strategy |")
    for v in values:
        head.add(" ", r.grid_value(name, grid_key, v) if not isinstance(v, str) else
                 f"`{v}`", " |")
    lines = [head, Finding(key).add("| --- |" + " --- |" * len(values))]
    for s in strategies:
        row = Finding(key).add(f"| `{s}` |")
        for v in values:
            row.add(" ", *cells[s, v], " |")
        lines.append(row)
    return lines


#: each question's own findings, the first its headline (the Pareto fronts come after)
HEADLINES = {"a": findings_a, "b": findings_b, "c": findings_c, "d": findings_d,
             "e": findings_e, "f": findings_f, "g": findings_g, "h": findings_h,
             "i": findings_i}


def headline(r: Results, key: str) -> Finding | None:
    found = [f for f in HEADLINES[key](r) if f.valid()]
    return found[0] if found else None


def contenders(folder: Path, key: str) -> dict:
    """The values, per grid key, that the decisive comparison of question `key`'s headline
    needs, read from its stored results (a key not named: all of its values)."""
    if key not in HEADLINES:
        return {}
    found = headline(Results(folder), key)
    return found.contenders if found is not None else {}


def verdict(r: Results, key: str, name: str) -> Finding | None:
    """Whether question `key`'s headline finding survives each modelling assumption of its
    decisive comparison (`<name>/assumptions/`), the comparison as configured re-run with
    other seeds included: a claim holds where the same claim comes out (a leader's, where
    the headline's leader is among the leaders); a measure gets its range. None without
    that sweep, or without a headline."""
    if not (r.folder / name / ASSUMPTIONS / "runs.parquet").is_file():
        return None
    main = headline(r, key)
    if main is None:
        return None
    study = AssumptionResults.study(name)
    grid = r.manifest(study)["grid"]
    when = r.manifest(study).get("when", {})
    heads = {v: headline(AssumptionResults(r, v), key) for v in grid[VARIANT]}
    f = Finding(key).add("Re-run")
    if len(grid.get(STRATEGY, [])) < len(r.manifest(name)["grid"].get(STRATEGY, [])):
        f.add(" for ", _names(grid[STRATEGY]))
    fixed = [(k, vs[0]) for k, vs in grid.items()
             if k not in (VARIANT, STRATEGY) and len(vs) == 1]
    for i, (k, v) in enumerate(fixed):
        f.add(", " if i else " at ", f"`{k}` = ",
              r.grid_value(study, k, v) if not isinstance(v, str) else f"`{v}`")
    others = [v for v in grid[VARIANT] if v != AS_CONFIGURED]
    f.add(" with other seeds" if AS_CONFIGURED in grid[VARIANT] else "", " and under ",
          _names(others), ": ")
    if main.measure is not None:
        values = {v: h.measure for v, h in heads.items()
                  if h is not None and h.measure is not None and _finite(h.measure)}
        if not values:
            return f.add("it has no counterpart under any of them.")
        lo = min(values, key=lambda v: values[v].value)
        hi = max(values, key=lambda v: values[v].value)
        f.add(*main.what, " ranges from ", values[lo], main.unit, " (`", lo, "`) to ",
              values[hi], main.unit, " (`", hi, "`), against ", main.measure, main.unit,
              " in the finding")
        missing = [v for v in grid[VARIANT] if v not in values]
        if missing:
            f.add("; it has no counterpart with ", _names(missing))
        return f.add(".")

    def holds(h: Finding | None) -> bool:
        if h is None:
            return False
        if main.leaders:
            return main.leaders[0] in h.leaders
        return h.claim_text == main.claim_text
    lost = {v: h for v, h in heads.items() if not holds(h)}
    if not lost:
        return f.add("it holds under every one.")
    f.add("it holds unless ")
    for i, (v, h) in enumerate(lost.items()):
        f.add("; or unless " if i else "", when.get(v, f"`{v}`"), " (`", v, "`: ",
              *_instead(h), ")")
    return f.add(".")


def _instead(h: Finding | None) -> list:
    """What a variant's headline says where the claim does not hold: its claim, else the
    whole sentence without its full stop."""
    if h is None:
        return ["no counterpart"]
    if h.claim:
        return list(h.claim)
    parts = list(h.parts)
    if parts and isinstance(parts[-1], str):
        parts[-1] = parts[-1].rstrip(".")
    return parts


def findings_k(r: Results) -> list[Finding]:
    """Speed against blast radius, per rollout policy (`experiments/rollout.toml`): the
    good release's p95 time to update and the bad release's exposed devices, the policies
    on the Pareto front of the two, what each costs the cells and the manager, and the
    assumptions the comparison rests on."""
    name, policy_key, rate_key = "rollout", "variant", "update.failure_rate"
    policies = r.grid(name, policy_key)
    rates = sorted(r.grid(name, rate_key))
    good, bad = rates[0], rates[-1]

    def at(policy, rate, expr, kind="n"):
        return r.value(name, {policy_key: policy, rate_key: rate}, expr, kind=kind)

    p95 = {p: at(p, good, "ttu_p95_s") for p in policies}
    exposed = {p: at(p, bad, "exposed_devices", "count") for p in policies}
    front = on_front(np.array([[p95[p].value, exposed[p].value] for p in policies]))
    on = [p for p, ok in zip(policies, front, strict=True) if ok]
    base = policies[0]                      # the grid's first: all at once
    out = []
    if on:
        safest = min(on, key=lambda p: exposed[p].value)
        f = Finding("k").says("`", safest, "` exposes the fewest devices to a bad release "
                              "among the policies on the front")
        f.rests_on(exposed[safest], "the devices `", safest, "` exposes to the bad release",
                   unit=" devices")
        f.add("With a bad release (", r.grid_value(name, rate_key, bad).scaled(100, "exact"),
              " % of installs failing), `", safest, "` exposes ", exposed[safest],
              " devices before the manager stops it")
        if safest != base and exposed[safest].value > 0:
            f.add(", against ", exposed[base], " with `", base, "` (",
                  ratio(exposed[base], exposed[safest]), "x fewer)")
        f.add("; with a good release its p95 time to update is ", *_s(p95[safest], "s"))
        if safest != base and _finite(p95[base]):
            f.add(" against ", *_s(p95[base], "s"), " with `", base, "`")
        out.append(f.add("."))
        out.append(Finding("k").add(
            "On the Pareto front of p95 time to update (good release) against devices "
            "exposed (bad release): ", _names(on), "; each other policy is beaten on both "
            "by one of them."))
    for p in policies:
        f = Finding("k").add("`", p, "`: good release, p95 time to update ")
        f.add(*(_s(p95[p], "s") if _finite(p95[p]) else ["none (too few updated)"]),
              ", median ", *_s(at(p, good, "ttu_p50_s"), "s"), ", peak cell stretch ",
              at(p, good, "cell_peak_stretch"), "x, at most ",
              at(p, good, "cell_peak_concurrent_downloads", "count"),
              " downloads at once in a cell, "
              "manager peak ", at(p, good, "manager_peak_rps"), " messages/s; bad release, ",
              exposed[p], " devices exposed, ", at(p, bad, "failed_installs", "count"),
              " failed installs")
        stop = at(p, bad, "aborted_at_s - `update.release_s`")
        out.append(f.add(", stopped ", *_s(stop, "s"), " after the release.") if _finite(stop)
                   else f.add(", never stopped."))
    out.append(Finding("k").add(
        "These rest on: a device reports its install's result at its next wake-up, so the "
        "manager learns of a failure about one wake-up interval after it; installs fail at "
        "random, whatever the device's coverage; the manager counts only the results it "
        "has heard (`rollout.abort_threshold` over `rollout.abort_min_finished`), and a "
        "download under way when it stops still counts as exposed; each class of a cell "
        "has download slots of its own under per-cell caps; CE2 devices keep CoAP's default "
        "timers, and their long downloads set the good release's p95; and flow "
        "fidelity, whose agreement with packet fidelity was checked on cells that do not "
        "saturate (a run whose cells did carries a validity warning)."))
    return out


FINDINGS = {**HEADLINES, "j": findings_j, "k": findings_k}


# --- the report

def all_findings(folder: Path) -> dict[str, list[Finding]]:
    r = Results(folder)
    return {q.key: [f for f in FINDINGS[q.key](r) if f.valid()] for q in QUESTIONS}


def all_verdicts(folder: Path) -> dict[str, Finding]:
    """Per question with a decisive comparison, the verdict on its headline finding."""
    r = Results(folder)
    out = {}
    for q in QUESTIONS:
        v = verdict(r, q.key, q.name) if q.key in HEADLINES else None
        if v is not None and v.valid():
            out[q.key] = v
    return out


def _setup(r: Results, name: str, tier: str) -> Finding:
    grid = " x ".join(f"`{k}`" for k in r.manifest(name)["grid"])
    return Finding("setup").add(
        f"Setup: `experiments/{name}.toml`, tier `{tier}`: {grid}, ",
        r.manifest_value(name, "replications"), " replications, ",
        r.manifest_value(name, "runs"), " runs.")


def write_report(folder: str | Path) -> Path:
    """Write `<folder>/REPORT.md` and `<folder>/report.json` from the stored results."""
    folder = Path(folder)
    study = analysis.load_study(folder)
    tier = study["tier"]
    found = all_findings(folder)
    verdicts = all_verdicts(folder)
    r = Results(folder)
    figures = {key: [stem for stem, (k, _) in FIGURES.items() if k == key
                     and (folder / "figures" / f"{stem}.png").is_file()]
               for key in found}
    lines = [
        "# iotsu-sim: which update strategy for which fleet?",
        "",
        f"Generated by `iotsu-sim reproduce` (tier `{tier}`, iotsu-sim "
        f"{study['iotsu_sim_version']}) from the results in this folder; every number is "
        "read from them (`report.json` gives the source of each). Times are seconds after "
        "the release of the update; p95 is the time by which 95 % of the fleet is updated "
        "(none when fewer were). A number with ± is a mean over replications with the "
        "half-width of its 95 % confidence interval (Student t). Under the modelling "
        "assumptions: each headline finding's decisive comparison re-run with one "
        "assumption changed at a time (`experiments/assumptions.toml`).",
        "",
        "## Headline findings",
        "",
        "| question | finding | under the modelling assumptions |",
        "| --- | --- | --- |",
    ]
    for q in QUESTIONS:
        first = found[q.key][0].text if found[q.key] else "(no finding: see the figures)"
        robust = verdicts[q.key].text if q.key in verdicts else \
            "(its own sweep, below)" if q.key == "j" else "(not re-run)"
        lines.append(f"| ({q.key}) {q.title} | {first} | {robust} |")
    setups, tables = [], {}
    for q in QUESTIONS:
        setup = _setup(r, q.name, tier)
        setups.append(setup)
        lines += ["", f"## ({q.key}) {q.title}", ""]
        lines += [f"![{stem}](figures/{stem}.png)" for stem in figures[q.key]]
        lines += ["", setup.text, ""]
        lines += [f"- {f.text}" for f in found[q.key]]
        if q.key in verdicts:
            lines += ["", f"Under the modelling assumptions: {verdicts[q.key].text}"]
        if q.key in PROFILES:
            tables[q.key] = pareto_table(r, q.key)
            lines += ["", "The operator's choice: the strategies on the Pareto front of "
                      "energy per device against p95 time to update, per "
                      f"`{PROFILES[q.key][1]}` (energy, p95; `-`: off the front; "
                      f"{DELEGATED_ENERGY}).", ""]
            lines += [f.text for f in tables[q.key]]
    lines += validation_section(folder)
    text = "\n".join(lines) + "\n"
    records = [{"question": f.question, "text": f.text,
                "numbers": [{"text": n.text, "value": n.value, "source": n.source}
                            for n in f.numbers]}
               for f in [*(f for q in QUESTIONS for f in found[q.key]),
                         *verdicts.values(), *(f for t in tables.values() for f in t),
                         *setups]]
    write_atomic(folder / "report.json", json.dumps(
        {"tier": tier, "findings": records}, indent=1, default=_json_default) + "\n")
    write_atomic(folder / "REPORT.md", text)
    return folder / "REPORT.md"


VALIDATION_HEADING = "## Validation of the model"


def validation_section(folder: Path) -> list[str]:
    """The report's last section: the table of `iotsu-sim validate` as stored in
    `<folder>/validation/validation.md` (none if the study has none)."""
    table = folder / "validation" / "validation.md"
    if not table.is_file():
        return []
    return ["", VALIDATION_HEADING, "",
            "Every check of the model against a reference known independently of it, as "
            "`iotsu-sim validate` prints it (`validation/validation.csv` has the rows). A "
            "failed check is a finding about the model, and the findings above should be "
            "read with it.", "", table.read_text().rstrip("\n")]


def _json_default(v):
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(f"not JSON: {v!r}")
