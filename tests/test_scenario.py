"""Tests of simulation.scenario: the schema against the contract, --set coercion and
refusals, link presets, TOML round trip, frozen variants and the built-in scenarios."""
import dataclasses
import math
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from simulation.errors import ScenarioError
from simulation.scenario import (LINK_PRESETS, STRATEGIES, Scenario, all_keys,
                                 builtin_scenarios, field_of, load_scenario, parse_sets,
                                 resolve, to_toml)
from simulation.scenario.schema import validate_value
from simulation.scenario.presets import LINK_KEYS, PRESETS

#: the project's own user-facing contract
INTERFACE = Path(__file__).resolve().parents[1] / "docs" / "interface.md"


def contract_keys() -> list[str]:
    """The dotted keys of the key tables of docs/interface.md: every row whose first cell
    holds only `code` spans, the spans that look like `table.key` (the parse of the
    contract checker)."""
    keys = []
    for row in re.findall(r"^\| (`[^|]+`) \|", INTERFACE.read_text(), re.M):
        keys += re.findall(r"`([a-z_]+\.[a-z_0-9]+)`", row)
    return keys


def load_text(tmp_path: Path, text: str, sets=None) -> Scenario:
    path = tmp_path / "scenario.toml"
    path.write_text(text)
    return load_scenario(str(path), sets)


def refusal(sets) -> str:
    with pytest.raises(ScenarioError) as e:
        load_scenario("baseline", sets)
    return str(e.value)


def link_values(s: Scenario) -> dict[str, float]:
    return {k: getattr(s.link, k) for k in LINK_KEYS}


# -- the schema against the contract --------------------------------------------------------

def test_contract_table_parses_to_many_keys():
    keys = contract_keys()
    assert len(keys) >= 30
    assert "nat.udp_timeout_s" in keys and "gateway.fetch" in keys


def test_every_contract_key_is_a_schema_key():
    missing = [k for k in contract_keys() if k not in all_keys()]
    assert not missing, f"contract keys missing from the schema: {missing}"


def test_defaults_resolve_every_key():
    s = load_scenario()
    unset = [k for k in all_keys() if s.get(k) is None]
    assert not unset, f"no value after load_scenario(): {unset}"


def test_unresolved_default_leaves_link_to_the_preset():
    assert all(getattr(Scenario().link, k) is None for k in LINK_KEYS)
    assert link_values(resolve(Scenario())) == {k: float(PRESETS["nbiot-ce0"][k])
                                                for k in LINK_KEYS}


def test_every_schema_default_passes_its_own_validation():
    s = load_scenario()
    for k in all_keys():
        assert validate_value(k, s.get(k)) == s.get(k), k


def test_every_key_has_doc_and_contract_choices_match():
    for k in all_keys():
        assert field_of(k).metadata["doc"].strip(), k
    assert set(STRATEGIES) == {"manager-polling", "device-polling", "device-initiated",
                               "manager-initiated", "delegated", "mqtt-http", "mqtt-coap",
                               "discovery"}
    assert set(LINK_PRESETS) == {"nbiot-ce0", "nbiot-ce1", "nbiot-ce2", "ltem", "cat1", "fixed"}
    assert set(LINK_PRESETS) == set(PRESETS)


# -- --set coercion --------------------------------------------------------------------------

@pytest.mark.parametrize("item,key,expected", [
    ("nat.udp_timeout_s=30", "nat.udp_timeout_s", 30.0),
    ("sim.horizon_s=1e3", "sim.horizon_s", 1000.0),
    ("nat.enabled=true", "nat.enabled", True),
    ("nat.enabled=false", "nat.enabled", False),
    ("nat.inbound_refresh=True", "nat.inbound_refresh", True),
    ("fleet.size=7", "fleet.size", 7),
    ("fleet.size=1e3", "fleet.size", 1000),
    ("fleet.size=40.0", "fleet.size", 40),
    ("coap.block_bytes=512", "coap.block_bytes", 512),
    ("strategy.name=device-polling", "strategy.name", "device-polling"),
    ('strategy.name="manager-polling"', "strategy.name", "manager-polling"),
    ("link.loss=0", "link.loss", 0.0),
    ("update.delta_ratio=1", "update.delta_ratio", 1.0),
    (" device.install_s = 12.5 ", "device.install_s", 12.5),
])
def test_set_values_are_coerced_to_the_key_type(item, key, expected):
    s = load_scenario("baseline", [item])
    value = s.get(key)
    assert value == expected
    assert type(value) is type(expected)


def test_parse_sets_keeps_last_of_repeated_key_and_seed_argument_wins():
    assert parse_sets(["fleet.size=3", "fleet.size=4"]) == {"fleet.size": 4}
    s = load_scenario("baseline", ["sim.seed=3"], seed=11)
    assert s.sim.seed == 11 and type(s.sim.seed) is int


# -- refusals --------------------------------------------------------------------------------

@pytest.mark.parametrize("key,value,allowed", [
    ("fleet.size", "-5", ">= 1"),
    ("fleet.size", "0", ">= 1"),
    ("fleet.size", "abc", "integer"),
    ("fleet.size", "2.5", "integer"),
    ("fleet.size", "true", "integer"),
    ("fleet.size", "1.5e0", "integer"),
    ("sim.horizon_s", "0", "> 0"),
    ("sim.horizon_s", "inf", "number"),
    ("sim.horizon_s", "nan", "number"),
    ("strategy.name", "bogus", "device-initiated"),
    ("strategy.name", "3", "device-initiated"),
    ("link.preset", "bogus", "nbiot-ce0"),
    ("link.loss", "1.5", "0.99"),
    ("link.loss", "-0.1", ">= 0"),
    ("coap.block_bytes", "100", "256"),
    ("nat.enabled", "maybe", "true or false"),
    ("nat.enabled", "1", "true or false"),
    ("nat.filtering", "full-cone", "address-port-dependent"),
    ("update.delta_ratio", "0", "> 0"),
])
def test_bad_set_value_is_refused_naming_key_value_and_allowed(key, value, allowed):
    msg = refusal([f"{key}={value}"])
    assert key in msg
    # the value as given, or as TOML read it (true -> True, 1.5e0 -> 1.5)
    shown = {"1.5e0": "1.5"}.get(value, value)
    assert shown.lower() in msg.lower()
    assert allowed in msg
    assert "\n" not in msg


def test_unknown_set_key_is_refused_naming_it_and_the_known_keys():
    msg = refusal(["nosuch.key=1"])
    assert "nosuch.key" in msg
    assert "fleet.size" in msg and "nat.udp_timeout_s" in msg
    assert "\n" not in msg
    msg = refusal(["fleet.sizes=1"])
    assert "fleet.sizes" in msg


@pytest.mark.parametrize("item", ["fleet.size", "=3", ""])
def test_set_without_key_value_form_is_refused(item):
    msg = refusal([item])
    assert "KEY=VALUE" in msg or "unknown key" in msg


def test_bad_override_via_dict_is_refused_and_original_kept():
    base = load_scenario("baseline")
    with pytest.raises(ScenarioError, match="fleet.size"):
        base.with_overrides({"fleet.size": -1})
    with pytest.raises(ScenarioError, match="fleet.size"):
        base.with_overrides({"fleet.size": True})
    assert base.fleet.size == 1000


def test_unknown_table_in_toml_is_refused(tmp_path):
    with pytest.raises(ScenarioError, match="bogus"):
        load_text(tmp_path, "[bogus]\nx = 1\n")
    with pytest.raises(ScenarioError, match="sim.extra"):
        load_text(tmp_path, "[sim.extra]\nx = 1\n")


def test_unknown_key_in_known_table_is_refused(tmp_path):
    with pytest.raises(ScenarioError, match="fleet.sise"):
        load_text(tmp_path, "[fleet]\nsise = 10\n")


def test_top_level_key_outside_a_table_is_refused(tmp_path):
    with pytest.raises(ScenarioError, match="seed"):
        load_text(tmp_path, "seed = 3\n[fleet]\nsize = 2\n")


def test_bad_value_in_toml_is_refused(tmp_path):
    with pytest.raises(ScenarioError, match="fleet.size"):
        load_text(tmp_path, "[fleet]\nsize = 2.5\n")
    with pytest.raises(ScenarioError, match="nat.enabled"):
        load_text(tmp_path, "[nat]\nenabled = 1\n")
    with pytest.raises(ScenarioError, match="sim.seed"):
        load_text(tmp_path, "[sim]\nseed = [1]\n")


@pytest.mark.parametrize("text", ["[strategy\nname = \n", "[fleet]\nsize = \n",
                                  "[fleet]\nsize = 1\nsize = 2\n"])
def test_malformed_toml_is_refused(tmp_path, text):
    with pytest.raises(ScenarioError, match="malformed TOML"):
        load_text(tmp_path, text)


def test_missing_scenario_file_is_refused(tmp_path):
    with pytest.raises(ScenarioError, match="no-such.toml"):
        load_scenario(str(tmp_path / "no-such.toml"))


def test_dotted_keys_in_toml_are_accepted(tmp_path):
    s = load_text(tmp_path, '"fleet.size" = 3\nsim.seed = 9\n')
    assert (s.fleet.size, s.sim.seed) == (3, 9)


# -- link presets ----------------------------------------------------------------------------

def test_preset_fills_absent_link_values():
    for preset in LINK_PRESETS:
        s = load_scenario("baseline", [f"link.preset={preset}"])
        assert s.link.preset == preset
        assert link_values(s) == {k: float(PRESETS[preset][k]) for k in LINK_KEYS}


def test_explicit_link_value_overrides_the_preset_others_come_from_it():
    s = load_scenario("baseline", ["link.rtt_s=3", "link.loss=0.3"])
    assert s.link.rtt_s == 3.0 and s.link.loss == 0.3
    for k in ("uplink_bps", "downlink_bps", "connect_s"):
        assert getattr(s.link, k) == PRESETS["nbiot-ce0"][k]


def test_explicit_link_value_in_file_overrides_the_preset(tmp_path):
    s = load_text(tmp_path, '[link]\npreset = "ltem"\nuplink_bps = 5000\n')
    assert s.link.uplink_bps == 5000.0
    assert s.link.downlink_bps == PRESETS["ltem"]["downlink_bps"]
    assert s.link.rtt_s == PRESETS["ltem"]["rtt_s"]


def test_switching_preset_by_set_takes_the_new_preset_values(tmp_path):
    s = load_text(tmp_path, '[link]\npreset = "ltem"\n', ["link.preset=nbiot-ce2"])
    assert link_values(s) == {k: float(PRESETS["nbiot-ce2"][k]) for k in LINK_KEYS}
    s = load_scenario("closed-form", ["link.preset=cat1", "link.loss=0.2"])
    assert s.link.loss == 0.2
    assert s.link.rtt_s == PRESETS["cat1"]["rtt_s"]
    assert s.link.downlink_bps == PRESETS["cat1"]["downlink_bps"]


def test_switching_preset_of_a_written_scenario_takes_the_new_preset_values(tmp_path):
    written = to_toml(load_scenario("baseline"))
    s = load_text(tmp_path, written, ["link.preset=ltem"])
    assert link_values(s) == {k: float(PRESETS["ltem"][k]) for k in LINK_KEYS}


# -- TOML round trip -------------------------------------------------------------------------

def roundtrip(tmp_path: Path, s: Scenario) -> Scenario:
    path = tmp_path / "written.toml"
    path.write_text(to_toml(s))
    return load_scenario(str(path))


@pytest.mark.parametrize("name", sorted(builtin_scenarios()))
def test_to_toml_round_trips_builtin(tmp_path, name):
    s = load_scenario(name)
    assert roundtrip(tmp_path, s) == s


def test_to_toml_round_trips_overrides(tmp_path):
    s = load_scenario("baseline", [
        "fleet.size=17", "sim.seed=123456789", "sim.horizon_s=1234.5678", "link.preset=ltem",
        "link.loss=0.1", "nat.enabled=false", "nat.filtering=endpoint-independent",
        "strategy.name=device-polling", "coap.block_bytes=64", "update.delta_ratio=0.117",
        "power.psm_mw=1e-7", "device.wake=poisson", "sim.fidelity=packet"])
    back = roundtrip(tmp_path, s)
    assert back == s
    assert back.link.loss == 0.1 and back.nat.enabled is False


def test_to_toml_writes_every_key():
    import tomllib
    data = tomllib.loads(to_toml(load_scenario("baseline")))
    written = [f"{t}.{leaf}" for t, vals in data.items() for leaf in vals]
    assert sorted(written) == sorted(all_keys())


finite = dict(allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(size=st.integers(1, 10**9),
       seed=st.integers(0, 2**53),  # larger: see test_large_integer_seed_is_accepted
       horizon=st.floats(min_value=0, exclude_min=True, max_value=1e12, **finite),
       loss=st.floats(0, 0.99, **finite),
       udp=st.floats(min_value=0, exclude_min=True, max_value=1e9, **finite),
       ratio=st.floats(min_value=0, exclude_min=True, max_value=1.0, **finite),
       block=st.sampled_from([16, 32, 64, 128, 256, 512, 1024]),
       enabled=st.booleans(),
       strategy=st.sampled_from(STRATEGIES),
       preset=st.sampled_from(LINK_PRESETS))
def test_to_toml_round_trips_any_values(tmp_path, size, seed, horizon, loss, udp, ratio, block,
                                        enabled, strategy, preset):
    s = load_scenario("baseline", {
        "fleet.size": size, "sim.seed": seed, "sim.horizon_s": horizon, "link.loss": loss,
        "nat.udp_timeout_s": udp, "update.delta_ratio": ratio, "coap.block_bytes": block,
        "nat.enabled": enabled, "strategy.name": strategy, "link.preset": preset})
    assert roundtrip(tmp_path, s) == s


@pytest.mark.parametrize("seed", [2**53 + 1, 2**63 - 1])
def test_large_integer_seed_is_accepted(seed):
    assert load_scenario("baseline", seed=seed).sim.seed == seed


# -- frozen variants -------------------------------------------------------------------------

def test_with_overrides_returns_new_object_and_leaves_original_unchanged():
    base = load_scenario("baseline")
    before = base.to_dict()
    new = base.with_overrides({"fleet.size": 7, "nat.udp_timeout_s": "15"})
    assert new is not base and new != base
    assert (new.fleet.size, new.nat.udp_timeout_s) == (7, 15.0)
    assert base.to_dict() == before
    assert base.fleet.size == 1000 and base.nat.udp_timeout_s == 60.0
    assert new.device == base.device


def test_scenario_is_frozen():
    s = load_scenario("baseline")
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.fleet.size = 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.fleet = None
    assert hash(s) == hash(load_scenario("baseline"))


# -- built-in scenarios ----------------------------------------------------------------------

def test_builtin_scenarios_are_the_expected_ones():
    assert {"baseline", "closed-form", "tight-nat", "large-fleet"} <= set(builtin_scenarios())


@pytest.mark.parametrize("name", sorted(builtin_scenarios()))
def test_builtin_scenario_loads_and_has_a_one_line_description(name):
    s = load_scenario(name)
    assert all(s.get(k) is not None for k in all_keys())
    line = builtin_scenarios()[name]
    assert line and "\n" not in line
    assert not line.startswith("["), f"{name}: description is not a comment: {line!r}"
    assert len(line) >= 10


def test_builtin_scenarios_say_what_they_promise():
    assert load_scenario("closed-form").link.preset == "fixed"
    assert load_scenario("closed-form").nat.enabled is False
    tight, base = load_scenario("tight-nat"), load_scenario("baseline")
    assert tight.nat.udp_timeout_s < base.nat.udp_timeout_s
    assert load_scenario("large-fleet").fleet.size == 100_000
    assert math.isclose(load_scenario("baseline").update.image_bytes, 102400)
