"""iotsu-sim: which software-update strategy to use for which fleet of sleepy IoT devices.

Python API for notebooks::

    from simulation import load_scenario, run
    result = run(load_scenario("baseline", {"fleet.size": 200}))
    result.devices, result.summary
"""
__version__ = "0.1.0"

from simulation.scenario import Scenario, ScenarioError, load_scenario  # noqa: E402


def run(scenario, trace_devices: int = 0, progress=None, workers=None, dask=None):
    """Simulate a resolved Scenario; returns a RunResult (devices, manager, summary).

    workers: processes for flow-fidelity runs, or partitions with `dask` (the result does
    not depend on it); dask: a dask.distributed scheduler address, or "local"."""
    from simulation.runner import run as _run

    return _run(scenario, trace_devices, progress, workers, dask)


def sweep(experiment, out=None, *, workers=None, dask=None, progress=None):
    """Run or finish a parameter sweep; returns its tables (runs, summary, manifest).
    See simulation.sweeps.runner."""
    from simulation.sweeps import sweep as _sweep

    return _sweep(experiment, out, workers=workers, dask=dask, progress=progress)


__all__ = ["Scenario", "ScenarioError", "load_scenario", "run", "sweep", "__version__"]
