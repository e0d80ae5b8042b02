"""Experiments: a scenario, fixed overrides, a grid of values and replications (TOML).

The format is that of docs/interface.md ("Experiments"). Everything is checked when
the experiment is loaded, before anything runs or is written: unknown keys, empty or
non-list grid values, replications below 1, an unknown scenario, and every grid point's
scenario (so a bad value in one point is refused up front).

Size tiers: optional `[experiment.quick]` and `[experiment.full]` tables override
`replications`, and key by key `set` and `grid`, of the experiment's own values (the
`default` tier), e.g. a smaller grid for a quick check and a paper-size one:

    [experiment.full]
    replications = 10
    [experiment.full.grid]
    "fleet.size" = [100, 1000, 10000, 100000]

A key a tier puts in its grid leaves the set, and the other way round. Every tier is checked
when the file is loaded, whichever is asked for. Runs keep their seeds across tiers (a
run's seed depends on its point and replication only), so tiers share finished runs.

Variants: `[experiment.variants.<name>]` tables of overrides, named by the values of a
`variant` grid key, vary several keys together (a modelling assumption and its
alternative, one factor at a time):

    [experiment.variants.as-configured]
    [experiment.variants.no-buffering]
    "network.extended_buffering_s" = 0.0
    [experiment.grid]
    "variant" = ["as-configured", "no-buffering"]

A variant's overrides win over the set's; a key may not be both in the grid and in a
variant the grid lists. `variants = "FILE.toml"` takes the variants from a file beside the
experiment, whose `[variants.<name>]` tables have the same form, so that several
experiments share one list of modelling assumptions (`experiments/assumptions.toml`). A
variant's table may say in `when` the world it stands for, as a phrase ("the network
buffers downlink data for devices in PSM").

The decisive comparison: an optional `[experiment.robustness]` table names the points on
which the experiment's headline finding rests, to be run again under each variant
(`decisive()`): `at` restricts grid keys to `"min"`, `"max"`, `"ends"` (both), a list of
their values or `"contenders"` (the values the finding names, known once the experiment has run; the
other keys keep all of theirs), `variants` names the file of variants, and
`replications` may lower the tier's count. A variant that sets a key of the remaining
grid, or of the experiment's set, is left out: the experiment varies that key along its own
axis, or fixes it by design (question (h)'s wake-ups every 5 min, say). A tier's
`[experiment.<tier>.robustness]` may override `at` (key by key) and `replications`.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulation import __version__
from simulation.errors import ScenarioError
from simulation.scenario import Scenario, load_scenario
from simulation.scenario.schema import field_of, validate_value
from simulation.strategies import check_supported

TIERS = ("quick", "default", "full")
#: what a tier table may override
TIER_KEYS = {"replications", "set", "grid", "robustness"}
EXPERIMENT_KEYS = {"name", "scenario", "seed", *TIER_KEYS, "quick", "full", "variants",
                   "robustness"}
ROBUSTNESS_KEYS = {"at", "variants", "replications"}
#: the grid key whose values name `[experiment.variants.<name>]` tables of overrides
VARIANT = "variant"
#: the variant without overrides, against which the others are read
AS_CONFIGURED = "as-configured"
#: the optional phrase of a variant's table saying the world it stands for
WHEN = "when"


@dataclass(frozen=True)
class Run:
    """One run of a sweep: a grid point, a replication and the seed derived from both."""

    point: tuple[tuple[str, Any], ...]
    replication: int
    seed: int
    scenario: Scenario

    @property
    def run_id(self) -> str:
        """Identity of the run's result: its fully resolved scenario (seed included) and the
        package version. A rerun reuses a stored result only under the same identity."""
        text = json.dumps([self.scenario.to_dict(), __version__], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Experiment:
    name: str
    scenario: str
    replications: int
    seed: int
    set: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list] = field(default_factory=dict)
    source: dict = field(default_factory=dict)   # the experiment as given
    tier: str = "default"
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: per variant, the world it stands for (its table's `when`), where it says
    when: dict[str, str] = field(default_factory=dict)
    #: `[experiment.robustness]` as checked: at, variants, when, replications
    robustness: dict = field(default_factory=dict)

    def overrides(self, point) -> dict[str, Any]:
        """The scenario overrides of a point: the set, then the point's variant (its
        overrides win over the set's), then the point's other grid values."""
        values = dict(point)
        variant = self.variants[values.pop(VARIANT)] if VARIANT in values else {}
        return {**self.set, **variant, **values}

    def points(self) -> list[tuple[tuple[str, Any], ...]]:
        """Every combination of grid values, in the file's order of keys and values."""
        keys = list(self.grid)
        return [tuple(zip(keys, values, strict=True))
                for values in itertools.product(*(self.grid[k] for k in keys))]

    def decisive(self, contenders: dict | None = None) -> Experiment | None:
        """The experiment's decisive comparison under each modelling assumption (see the
        module docstring), named `<name>-assumptions`; None without a robustness table.
        A key picked as `"contenders"` keeps its values that `contenders[key]` names (all of
        them when it names none): the strategies, say, that a finding compares, known from
        the results."""
        if not self.robustness:
            return None
        grid = {}
        for k, values in self.grid.items():
            pick = self.robustness["at"].get(k)
            if pick == "contenders":
                values = [v for v in values if v in (contenders or {}).get(k, ())] or values
            elif pick == "min":
                values = [min(values)]
            elif pick == "max":
                values = [max(values)]
            elif pick == "ends":
                values = sorted({min(values), max(values)})
            elif pick is not None:
                values = [v for v in values if v in pick]
                if not values:
                    raise ScenarioError(f"{self.name}: experiment.robustness.at {k!r} = "
                                        f"{pick!r} holds none of the {self.tier} tier's "
                                        f"values {self.grid[k]!r}")
            grid[k] = values
        variants = self.robustness["variants"]
        names = [v for v, sets in variants.items()
                 if not set(sets) & (set(grid) | set(self.set))]
        grid[VARIANT] = names
        replications = min(self.replications,
                           self.robustness.get("replications") or self.replications)
        return Experiment(name=f"{self.name}-assumptions", scenario=self.scenario,
                          replications=replications, seed=self.seed, set=self.set,
                          grid=grid, source=self.source, tier=self.tier,
                          variants={v: variants[v] for v in names},
                          when={v: self.robustness["when"][v] for v in names
                                if v in self.robustness["when"]})

    def runs(self) -> list[Run]:
        """Every run: points x replications, each with its own derived seed."""
        out = []
        for point in self.points():
            for r in range(self.replications):
                seed = run_seed(self.seed, point, r)
                sets = {**self.overrides(point), "sim.seed": seed}
                out.append(Run(point, r, seed, load_scenario(self.scenario, sets)))
        return out


def run_seed(experiment_seed: int, point, replication: int) -> int:
    """A run's seed from the experiment's seed, the point's own values (not its position in
    the grid) and the replication: adding a grid value or a replication leaves the seeds,
    and so the results, of the existing runs unchanged."""
    text = json.dumps([experiment_seed, sorted(point), replication], sort_keys=True)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


def _check_value(key: str, value: Any, where: str) -> Any:
    try:
        field_of(key)
        return validate_value(key, value)
    except ScenarioError as e:
        raise ScenarioError(f"{where}: {e}") from None


def load_experiment(path: str | Path, tier: str = "default") -> Experiment:
    """Read and check an experiment TOML file and return it at `tier` (`quick`, `default`
    or `full`); raises ScenarioError with one line."""
    path = Path(path)
    if not path.is_file():
        raise ScenarioError(f"experiment {str(path)!r} is not a file")
    try:
        doc = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(f"{path}: malformed TOML: {e}") from None
    if set(doc) != {"experiment"}:
        extra = sorted(set(doc) - {"experiment"}) or ["(no [experiment] table)"]
        raise ScenarioError(f"{path}: expected only an [experiment] table, found "
                            f"{', '.join(extra)}")
    exp = doc["experiment"]
    unknown = sorted(set(exp) - EXPERIMENT_KEYS)
    if unknown:
        raise ScenarioError(f"{path}: unknown experiment key {unknown[0]!r}; known keys: "
                            f"{', '.join(sorted(EXPERIMENT_KEYS))}")
    name = exp.get("name", path.stem)
    if not isinstance(name, str) or not name or "/" in name:
        raise ScenarioError(f"{path}: experiment.name = {name!r} must be a non-empty name "
                            "without '/'")
    scenario = exp.get("scenario", "baseline")
    if not isinstance(scenario, str):
        raise ScenarioError(f"{path}: experiment.scenario = {scenario!r} must be a built-in "
                            "name or a path")
    candidate = path.parent / scenario
    if candidate.is_file():
        scenario = str(candidate)          # a path relative to the experiment file
    base = load_scenario(scenario)         # refuses an unknown scenario
    seed = exp.get("seed", base.sim.seed)
    seed = _check_value("sim.seed", seed, f"{path}: experiment.seed")
    if tier not in TIERS:
        raise ScenarioError(f"tier {tier!r} is not allowed: expected one of {', '.join(TIERS)}")
    variants, when = _variants(exp.get("variants", {}), path)
    robustness = _robustness(exp.get("robustness"), path)
    tiers = {"default": _tier_values(exp, path, "experiment", variants)}
    robust = {"default": robustness}
    for t in ("quick", "full"):
        table = _table(exp.get(t, {}), path, f"experiment.{t}", TIER_KEYS,
                       "a tier overrides")
        tiers[t] = _merge_tier(tiers["default"],
                               _tier_values(table, path, f"experiment.{t}", variants))
        robust[t] = _tier_robustness(robustness, table.get("robustness"), path,
                                     f"experiment.{t}.robustness")
    chosen = None
    for t, (replications, sets, grid) in tiers.items():
        robustness = robust[t]
        experiment = Experiment(name=name, scenario=scenario, replications=replications,
                                seed=seed, set=sets, grid=grid, source=doc, tier=t,
                                variants=variants, when=when, robustness=robustness)
        _check_points(experiment, path)
        if robustness:
            for k in robustness["at"]:
                if k not in grid:
                    raise ScenarioError(f"{path}: experiment.robustness.at names {k!r}, "
                                        f"which is not in the {t} tier's grid")
            _check_points(experiment.decisive(), path)
        if t == tier:
            chosen = experiment
    return chosen


def _variants(table, path: Path) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """`[experiment.variants]`, or the `[variants]` of the file it names: name -> table of
    dotted overrides, checked; and name -> its `when`, where it has one."""
    label = "experiment.variants"
    if isinstance(table, str):
        source = path.parent / table
        if not source.is_file():
            raise ScenarioError(f"{path}: experiment.variants = {table!r} is not a file "
                                "beside the experiment")
        try:
            doc = tomllib.loads(source.read_text())
        except tomllib.TOMLDecodeError as e:
            raise ScenarioError(f"{source}: malformed TOML: {e}") from None
        if set(doc) != {"variants"}:
            raise ScenarioError(f"{source}: expected only a [variants] table")
        path, table, label = source, doc["variants"], "variants"
    if not isinstance(table, dict):
        raise ScenarioError(f"{path}: {label} must be a table of named tables")
    out, when = {}, {}
    for name, sets in table.items():
        if not isinstance(sets, dict):
            raise ScenarioError(f"{path}: {label}.{name} must be a table of dotted keys "
                                "(an empty table for no override)")
        sets = dict(sets)
        if WHEN in sets:
            phrase = sets.pop(WHEN)
            if not isinstance(phrase, str) or not phrase:
                raise ScenarioError(f"{path}: {label}.{name}.{WHEN} must be a phrase")
            when[name] = phrase
        if VARIANT in sets:
            raise ScenarioError(f"{path}: {label}.{name} may not set {VARIANT!r}")
        out[name] = {k: _check_value(k, v, f"{path}: {label}.{name}")
                     for k, v in sets.items()}
    return out, when


def _table(table, path: Path, label: str, known: set, hint: str) -> dict:
    """`table`, refused in one line unless it is a table of the keys `known` (`hint` leads
    their list in the message)."""
    if not isinstance(table, dict):
        raise ScenarioError(f"{path}: {label} must be a table")
    unknown = sorted(set(table) - known)
    if unknown:
        raise ScenarioError(f"{path}: unknown key {unknown[0]!r} in {label}; {hint} "
                            f"{', '.join(sorted(known))}")
    return table


def _tier_robustness(base: dict, table, path: Path, label: str) -> dict:
    """A tier's `robustness` table (`at` key by key, `replications`) over the experiment's."""
    if table is None:
        return base
    if not base:
        raise ScenarioError(f"{path}: {label} needs an [experiment.robustness] table")
    if not isinstance(table, dict) or set(table) - {"at", "replications"}:
        raise ScenarioError(f"{path}: {label} may override at and replications only")
    tier = _robustness({**table, "variants": None}, path, label, base)
    return {**base, "at": {**base["at"], **tier["at"]},
            "replications": tier["replications"] or base["replications"]}


def _robustness(table, path: Path, label: str = "experiment.robustness",
                base: dict | None = None) -> dict:
    """`[experiment.robustness]`, checked (its grid keys against the tiers later)."""
    if table is None:
        return {}
    _table(table, path, label, ROBUSTNESS_KEYS, "known keys:")
    if base is not None:                 # a tier's table: the experiment's variants
        variants, when = base["variants"], base["when"]
    elif not isinstance(table.get("variants"), str):
        raise ScenarioError(f"{path}: {label}.variants must name a file of variants")
    else:
        variants, when = _variants(table["variants"], path)
    if AS_CONFIGURED not in variants or variants[AS_CONFIGURED]:
        raise ScenarioError(f"{path}: {label}.variants must hold an empty "
                            f"{AS_CONFIGURED!r} variant, the comparison as configured")
    at = table.get("at", {})
    if not isinstance(at, dict):
        raise ScenarioError(f"{path}: {label}.at must be a table of grid keys")
    checked = {}
    for k, pick in at.items():
        if pick in ("min", "max", "ends", "contenders"):
            checked[k] = pick
        elif isinstance(pick, list) and pick:
            checked[k] = [_check_value(k, v, f"{path}: {label}.at") for v in pick]
        else:
            raise ScenarioError(f"{path}: {label}.at {k!r} = {pick!r} is not allowed: "
                                "expected \"min\", \"max\", \"ends\", \"contenders\" "
                                "or a non-empty list of values")
    return {"at": checked, "variants": variants, "when": when,
            "replications": _replications(table.get("replications"), path, label)}


def _replications(value, path: Path, label: str) -> int | None:
    """A table's `replications`, checked (None if it has none)."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                              or value < 1):
        raise ScenarioError(f"{path}: {label}.replications = {value!r} is not allowed: "
                            "expected an integer >= 1")
    return value


def _tier_values(table: dict, path: Path, label: str, variants: dict | None = None):
    """(replications or None, set, grid) of the experiment's or a tier's table, checked;
    a `variant` grid names tables of `variants`."""
    variants = variants or {}
    replications = table.get("replications")
    if replications is None and label == "experiment":
        replications = 1
    replications = _replications(replications, path, label)
    sets = table.get("set", {})
    grid = table.get("grid", {})
    for part, value in (("set", sets), ("grid", grid)):
        if not isinstance(value, dict):
            raise ScenarioError(f"{path}: {label}.{part} must be a table of dotted keys")
    sets = {k: _check_value(k, v, f"{path}: {label}.set") for k, v in sets.items()}
    checked_grid = {}
    for k, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ScenarioError(f"{path}: {label}.grid {k!r} = {values!r} is not allowed: "
                                "expected a non-empty list of values")
        if k == VARIANT:
            unknown = [v for v in values if v not in variants]
            if unknown:
                raise ScenarioError(
                    f"{path}: {label}.grid {VARIANT!r} names {unknown[0]!r}, which is not "
                    f"a table of experiment.variants ({', '.join(variants) or 'none'})")
            clash = sorted({key for v in values for key in variants[v]} & set(grid))
            if clash:
                raise ScenarioError(f"{path}: {clash[0]!r} is both in {label}.grid and in "
                                    "a variant it lists")
            checked_grid[k] = list(values)
            continue
        checked = [_check_value(k, v, f"{path}: {label}.grid") for v in values]
        if len(set(map(repr, checked))) != len(checked):
            raise ScenarioError(f"{path}: {label}.grid {k!r} repeats a value: {values!r}")
        checked_grid[k] = checked
    overlap = sorted(set(sets) & set(checked_grid))
    if overlap:
        raise ScenarioError(f"{path}: {overlap[0]!r} is both in {label}.set and "
                            f"{label}.grid")
    return replications, sets, checked_grid


def _merge_tier(default, tier):
    """A tier's values over the default tier's, key by key (see the module docstring)."""
    replications, sets, grid = default
    t_replications, t_sets, t_grid = tier
    sets = {k: v for k, v in {**sets, **t_sets}.items() if k not in t_grid}
    # a grid key keeps its place in the grid's order, so points keep their order
    grid = {k: t_grid.get(k, v) for k, v in grid.items() if k not in t_sets}
    grid.update({k: v for k, v in t_grid.items() if k not in grid})
    return (t_replications or replications), sets, grid


def _check_points(experiment: Experiment, path: Path) -> None:
    """Every point must give a scenario this version can simulate."""
    for point in experiment.points():
        try:
            scenario = load_scenario(experiment.scenario, experiment.overrides(point))
            check_supported(scenario)
        except ScenarioError as e:
            where = ", ".join(f"{k}={v}" for k, v in point) or "the experiment"
            raise ScenarioError(f"{path}: at {where}: {e}") from None
