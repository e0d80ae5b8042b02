"""Experiment variants: named tables of overrides picked by a `variant` grid key (a
modelling assumption and its alternative), applied over the set, checked at load."""
from __future__ import annotations

import pytest

from simulation.errors import ScenarioError
from simulation.sweeps import load_experiment, sweep

EXPERIMENT = """
[experiment]
name = "robust"
scenario = "closed-form"
replications = 2
seed = 3

[experiment.set]
"fleet.size" = 4
"fleet.cells" = 4
"nat.udp_timeout_s" = 60.0
"sim.horizon_s" = 7200.0

[experiment.variants.as-configured]

[experiment.variants.short-nat]
"nat.udp_timeout_s" = 30.0
"nat.enabled" = true

[experiment.grid]
"strategy.name" = ["device-initiated", "device-polling"]
"variant" = ["as-configured", "short-nat"]
"""


def write(tmp_path, text):
    path = tmp_path / "robust.toml"
    path.write_text(text)
    return path


def test_a_variant_applies_its_overrides_over_the_set(tmp_path):
    exp = load_experiment(write(tmp_path, EXPERIMENT))
    runs = exp.runs()
    assert len(runs) == 2 * 2 * 2
    for run in runs:
        variant = dict(run.point)["variant"]
        nat = run.scenario.nat
        if variant == "short-nat":
            assert nat.udp_timeout_s == 30.0 and nat.enabled
        else:
            assert nat.udp_timeout_s == 60.0
    # each point has its own seeds, as any grid value
    assert len({r.seed for r in runs}) == len(runs)


def test_a_sweep_over_variants_summarises_per_variant(tmp_path):
    result = sweep(load_experiment(write(tmp_path, EXPERIMENT)), tmp_path / "out",
                   workers=1, progress=False)
    assert sorted(set(result.summary["variant"])) == ["as-configured", "short-nat"]
    assert len(result.summary) == 4
    assert result.manifest["variants"]["short-nat"] == {"nat.udp_timeout_s": 30.0,
                                                        "nat.enabled": True}


@pytest.mark.parametrize("change,needle", [
    (('"variant" = ["as-configured", "short-nat"]', '"variant" = ["as-configured", "nope"]'),
     "names 'nope', which is not a table of experiment.variants"),
    (('"nat.udp_timeout_s" = 30.0\n', '"nat.udp_timeout_s" = -1.0\n'),
     "experiment.variants.short-nat"),
    (('"variant" = ["as-configured", "short-nat"]',
      '"variant" = ["as-configured", "short-nat"]\n"nat.enabled" = [true, false]'),
     "'nat.enabled' is both in experiment.grid and in a variant it lists"),
    (('[experiment.variants.as-configured]\n', '[experiment.variants]\nas-configured = 3\n'),
     "experiment.variants.as-configured must be a table"),
])
def test_bad_variants_are_refused_at_load(tmp_path, change, needle):
    text = EXPERIMENT.replace(*change)
    assert text != EXPERIMENT
    with pytest.raises(ScenarioError, match=None) as e:
        load_experiment(write(tmp_path, text))
    assert needle in str(e.value)


# --- shared variants and the decisive comparison

ASSUMPTIONS = """
[variants.as-configured]
when = "the comparison is re-run with other seeds"

[variants.short-nat]
when = "the NAT forgets UDP bindings sooner"
"nat.udp_timeout_s" = 30.0

[variants.slow-wake]
"device.wake_interval_s" = 7200.0

[variants.bigger]
"fleet.size" = 8
"""

DECISIVE = """
[experiment]
name = "decisive"
scenario = "closed-form"
replications = 3
seed = 3
variants = "assumptions.toml"

[experiment.set]
"fleet.size" = 4
"fleet.cells" = 4
"sim.horizon_s" = 7200.0

[experiment.grid]
"strategy.name" = ["device-initiated", "device-polling", "manager-initiated"]
"device.wake_interval_s" = [600.0, 1800.0, 3600.0]
"variant" = ["as-configured", "short-nat"]

[experiment.robustness]
variants = "assumptions.toml"
at = { "device.wake_interval_s" = "ends", "strategy.name" = "contenders" }
replications = 2

[experiment.quick]
replications = 2

[experiment.quick.robustness]
replications = 1
at = { "device.wake_interval_s" = "min" }
"""


def write_decisive(tmp_path, text=DECISIVE, assumptions=ASSUMPTIONS):
    (tmp_path / "assumptions.toml").write_text(assumptions)
    return write(tmp_path, text)


def test_variants_from_a_shared_file_with_what_they_stand_for(tmp_path):
    exp = load_experiment(write_decisive(tmp_path))
    assert exp.variants == {"as-configured": {}, "short-nat": {"nat.udp_timeout_s": 30.0},
                            "slow-wake": {"device.wake_interval_s": 7200.0},
                            "bigger": {"fleet.size": 8}}
    assert exp.when == {"as-configured": "the comparison is re-run with other seeds",
                        "short-nat": "the NAT forgets UDP bindings sooner"}
    nat = {dict(r.point)["variant"]: r.scenario.nat.udp_timeout_s for r in exp.runs()}
    assert nat == {"as-configured": 60.0, "short-nat": 30.0}


def test_the_decisive_comparison_restricts_the_grid_and_adds_every_variant(tmp_path):
    exp = load_experiment(write_decisive(tmp_path))
    d = exp.decisive({"strategy.name": ["device-polling", "nope"]})
    assert d.name == "decisive-assumptions" and d.replications == 2
    # ends of the wake intervals, the contender named, and every variant but those that
    # set a key of the remaining grid (slow-wake: the wake interval) or of the set
    # (bigger: the fleet size)
    assert d.grid == {"strategy.name": ["device-polling"],
                      "device.wake_interval_s": [600.0, 3600.0],
                      "variant": ["as-configured", "short-nat"]}
    assert len(d.runs()) == 1 * 2 * 2 * 2
    # without contenders, a key picked as contenders keeps all of its values
    assert exp.decisive().grid["strategy.name"] == exp.grid["strategy.name"]
    # a tier overrides the robustness table key by key
    quick = load_experiment(write_decisive(tmp_path), "quick").decisive()
    assert quick.replications == 1 and quick.grid["device.wake_interval_s"] == [600.0]
    # the decisive runs' seeds are their own: the variant is part of the point
    seeds = {r.seed for r in d.runs()}
    assert len(seeds) == len(d.runs())


def test_an_experiment_without_a_robustness_table_has_no_decisive_comparison(tmp_path):
    assert load_experiment(write(tmp_path, EXPERIMENT)).decisive() is None


@pytest.mark.parametrize("change,needle", [
    (('variants = "assumptions.toml"\n\n[experiment.set]',
      'variants = "missing.toml"\n\n[experiment.set]'),
     "experiment.variants = 'missing.toml' is not a file beside the experiment"),
    (('"device.wake_interval_s" = "ends"', '"device.wake_interval_s" = "middle"'),
     "experiment.robustness.at 'device.wake_interval_s' = 'middle' is not allowed"),
    (('"device.wake_interval_s" = "ends"', '"fleet.size" = "max"'),
     "experiment.robustness.at names 'fleet.size', which is not in the default tier's grid"),
    (('replications = 2\n\n[experiment.quick]', 'replications = 0\n\n[experiment.quick]'),
     "experiment.robustness.replications = 0 is not allowed"),
    (('replications = 1\nat', 'set = 1\nat'),
     "experiment.quick.robustness may override at and replications only"),
])
def test_bad_robustness_tables_are_refused_at_load(tmp_path, change, needle):
    text = DECISIVE.replace(*change)
    assert text != DECISIVE
    with pytest.raises(ScenarioError) as e:
        load_experiment(write_decisive(tmp_path, text))
    assert needle in str(e.value)


def test_a_shared_file_needs_an_empty_as_configured_variant(tmp_path):
    bad = ASSUMPTIONS.replace('when = "the comparison is re-run with other seeds"',
                              '"nat.enabled" = false')
    with pytest.raises(ScenarioError, match="must hold an empty 'as-configured' variant"):
        load_experiment(write_decisive(tmp_path, assumptions=bad))
    with pytest.raises(ScenarioError, match=r"variants.short-nat.when must be a phrase"):
        load_experiment(write_decisive(tmp_path, assumptions=ASSUMPTIONS.replace(
            '"the NAT forgets UDP bindings sooner"', '3')))
