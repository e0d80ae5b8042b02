"""Parameter sweeps with replications: experiments, executors, a resumable results store."""
from simulation.sweeps.experiment import Experiment, load_experiment, run_seed
from simulation.sweeps.runner import MEASURED, SweepResult, sweep

__all__ = ["Experiment", "load_experiment", "run_seed", "sweep", "SweepResult", "MEASURED"]
