"""Scenarios: the typed schema, built-in scenarios, TOML loading and `--set` overrides."""
from __future__ import annotations

import dataclasses
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from simulation.errors import ScenarioError
from simulation.scenario.presets import preset_values
from simulation.scenario.schema import (LINK_PRESETS, STRATEGIES, TABLES, Scenario, all_keys,
                                        field_of)

__all__ = ["Scenario", "ScenarioError", "load_scenario", "builtin_scenarios", "parse_sets",
           "to_toml", "resolve", "coverage_classes", "all_keys", "field_of", "STRATEGIES",
           "LINK_PRESETS", "TABLES"]

BUILTIN = resources.files("simulation.scenario") / "builtin"


def builtin_scenarios() -> dict[str, str]:
    """Built-in scenario names -> their one-line description (the file's first comment)."""
    out = {}
    for entry in sorted(BUILTIN.iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".toml"):
            first = entry.read_text().splitlines()[0]
            out[entry.name[:-5]] = first.lstrip("# ").strip()
    return out


def read_toml(source: str) -> dict[str, Any]:
    """The tables of a built-in scenario name or of a TOML file path."""
    if source in builtin_scenarios():
        text = (BUILTIN / f"{source}.toml").read_text()
        where = f"built-in scenario {source!r}"
    else:
        path = Path(source)
        if not path.is_file():
            raise ScenarioError(f"scenario {source!r} is neither a file nor a built-in scenario "
                                f"({', '.join(builtin_scenarios())})")
        text = path.read_text()
        where = str(path)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(f"{where}: malformed TOML: {e}") from None


def parse_sets(sets: list[str]) -> dict[str, Any]:
    """`KEY=VALUE` strings -> dotted overrides; the value is read as TOML when it can be."""
    out: dict[str, Any] = {}
    for item in sets:
        k, sep, v = item.partition("=")
        if not sep or not k.strip():
            raise ScenarioError(f"--set {item!r} is not KEY=VALUE (e.g. nat.udp_timeout_s=30)")
        k = k.strip()
        try:
            field_of(k)
        except ScenarioError as e:
            raise ScenarioError(f"--set {k}={v.strip()}: {e}") from None
        try:
            out[k] = tomllib.loads(f"v = {v.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            out[k] = v.strip()
    return out


def resolve(scenario: Scenario) -> Scenario:
    """Fill every key left to a preset (link.*) with the preset's calibrated value."""
    base = preset_values(scenario.link.preset)
    filled = {f"link.{k}": v for k, v in base.items() if getattr(scenario.link, k) is None}
    scenario = scenario.with_overrides(filled) if filled else scenario
    for name, _share, values in coverage_classes(scenario):
        if values["cell_downlink_bps"] < values["downlink_bps"]:
            where = "" if name == scenario.link.preset else f" for the devices of {name}"
            raise ScenarioError(f"link.cell_downlink_bps = {values['cell_downlink_bps']:g} "
                                f"is below link.downlink_bps = {values['downlink_bps']:g}"
                                f"{where}: a cell carries at least one device's rate")
    return scenario


def coverage_classes(scenario: Scenario) -> tuple[tuple[str, float, dict[str, Any]], ...]:
    """The fleet's coverage classes (`fleet.coverage_mix`; without one, `link.preset`
    alone), each as (preset, share of the devices, its link.* values). A class takes its
    preset's calibrated values, except where the scenario's value differs from
    `link.preset`'s: that is an override (`--set link.loss=0.1`), and applies to every
    class. The scenario must be resolved (`resolve`)."""
    link = scenario.link
    reference = preset_values(link.preset)
    overrides = {k: getattr(link, k) for k, v in reference.items() if getattr(link, k) != v}
    mix = scenario.fleet.mix or ((link.preset, 1.0),)
    return tuple((name, share, {**preset_values(name), **overrides}) for name, share in mix)


def load_scenario(source: str | None = None, sets: list[str] | dict[str, Any] | None = None,
                  seed: int | None = None) -> Scenario:
    """Read a scenario (built-in name or TOML path), apply overrides, resolve presets.

    Raises ScenarioError with a one-line message on any bad input.
    """
    scenario = Scenario.from_dict(read_toml(source)) if source else Scenario()
    overrides = parse_sets(sets) if isinstance(sets, list) else dict(sets or {})
    if seed is not None:
        overrides["sim.seed"] = seed
    return resolve(_follow_preset(scenario, scenario.with_overrides(overrides), overrides))


def _follow_preset(before: Scenario, after: Scenario, overrides: dict) -> Scenario:
    """When an override changes link.preset, link values that equal the old preset's
    calibrated values (as a written scenario.toml holds them) follow the new preset;
    values that differ from the old preset, or are overridden too, stay."""
    if after.link.preset == before.link.preset:
        return after
    old = preset_values(before.link.preset)
    reset = {k: None for k, v in old.items()
             if getattr(after.link, k) == v and f"link.{k}" not in overrides}
    if not reset:
        return after
    return dataclasses.replace(after, link=dataclasses.replace(after.link, **reset))


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, float):
        return repr(v)
    return str(v)


def to_toml(scenario: Scenario) -> str:
    """The fully resolved scenario as TOML, with each key's unit and meaning as a comment."""
    lines = ["# iotsu-sim scenario, every key resolved; `iotsu-sim run` accepts it as is."]
    for table, values in scenario.to_dict().items():
        lines.append(f"\n[{table}]")
        for leaf, v in values.items():
            meta = field_of(f"{table}.{leaf}").metadata
            unit = f" [{meta['unit']}]" if meta["unit"] else ""
            doc = meta["doc"].split(";")[0].replace("`", "")
            if v is None:
                lines.append(f"# {leaf}: from the preset{unit}")
                continue
            lines.append(f"{leaf} = {toml_value(v)}  # {doc}{unit}")
    return "\n".join(lines) + "\n"
