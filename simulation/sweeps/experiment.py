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
variant the grid lists.
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
TIER_KEYS = {"replications", "set", "grid"}
EXPERIMENT_KEYS = {"name", "scenario", "seed", *TIER_KEYS, "quick", "full", "variants"}
#: the grid key whose values name `[experiment.variants.<name>]` tables of overrides
VARIANT = "variant"


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
    variants = _variants(exp.get("variants", {}), path)
    tiers = {"default": _tier_values(exp, path, "experiment", variants)}
    for t in ("quick", "full"):
        table = exp.get(t, {})
        if not isinstance(table, dict):
            raise ScenarioError(f"{path}: experiment.{t} must be a table")
        unknown = sorted(set(table) - TIER_KEYS)
        if unknown:
            raise ScenarioError(f"{path}: unknown key {unknown[0]!r} in experiment.{t}; "
                                f"a tier overrides {', '.join(sorted(TIER_KEYS))}")
        tiers[t] = _merge_tier(tiers["default"],
                               _tier_values(table, path, f"experiment.{t}", variants))
    chosen = None
    for t, (replications, sets, grid) in tiers.items():
        experiment = Experiment(name=name, scenario=scenario, replications=replications,
                                seed=seed, set=sets, grid=grid, source=doc, tier=t,
                                variants=variants)
        _check_points(experiment, path)
        if t == tier:
            chosen = experiment
    return chosen


def _variants(table, path: Path) -> dict[str, dict[str, Any]]:
    """`[experiment.variants]`: name -> table of dotted overrides, checked."""
    if not isinstance(table, dict):
        raise ScenarioError(f"{path}: experiment.variants must be a table of named tables")
    out = {}
    for name, sets in table.items():
        if not isinstance(sets, dict):
            raise ScenarioError(f"{path}: experiment.variants.{name} must be a table of "
                                "dotted keys (an empty table for no override)")
        if VARIANT in sets:
            raise ScenarioError(f"{path}: experiment.variants.{name} may not set "
                                f"{VARIANT!r}")
        out[name] = {k: _check_value(k, v, f"{path}: experiment.variants.{name}")
                     for k, v in sets.items()}
    return out


def _tier_values(table: dict, path: Path, label: str, variants: dict | None = None):
    """(replications or None, set, grid) of the experiment's or a tier's table, checked;
    a `variant` grid names tables of `variants`."""
    variants = variants or {}
    replications = table.get("replications")
    if replications is None and label == "experiment":
        replications = 1
    if replications is not None and (isinstance(replications, bool)
                                     or not isinstance(replications, int) or replications < 1):
        raise ScenarioError(f"{path}: {label}.replications = {replications!r} is not "
                            "allowed: expected an integer >= 1")
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
