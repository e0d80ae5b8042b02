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
