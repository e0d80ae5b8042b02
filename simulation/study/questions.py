"""The study's research questions: each names its experiment file in `experiments/`.

The experiment (a TOML file with `quick` / `default` / `full` size tiers) says what is
simulated; this list says what each question asks, in the order of the report. Figures
(`simulation/figures/study.py`) and findings (`report.py`) are keyed by `key`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from simulation.errors import ScenarioError


#: where a question's decisive comparison under the modelling assumptions is stored, in
#: its folder (`<out>/<name>/assumptions/`, a sweep)
ASSUMPTIONS = "assumptions"


@dataclass(frozen=True)
class Question:
    key: str          # a .. k, the order of the report
    name: str         # the experiment's file stem and name: results in <out>/<name>/
    title: str        # the question, as the report asks it


QUESTIONS = (
    Question("a", "fleet-size",
             "How do time to update and the manager's load grow with the fleet size?"),
    Question("b", "nat-timeout",
             "Which strategies survive a carrier NAT that forgets bindings quickly?"),
    Question("c", "wake-interval",
             "How does the devices' wake-up interval set the time to update and its energy?"),
    Question("d", "coverage",
             "What do poor coverage classes cost in energy and time?"),
    Question("e", "gateway-fanout",
             "How much backhaul does a gateway save, and what does sharing it cost?"),
    Question("f", "delta-ratio",
             "What does a partial (delta) update save over the full image?"),
    Question("g", "security",
             "What do (D)TLS sessions add in bytes and energy?"),
    Question("h", "cell-contention",
             "What happens to a cell when the whole fleet is released at once?"),
    Question("i", "mqtt-session",
             "Should an MQTT device keep its session open or reconnect at each wake-up?"),
    Question("j", "robustness",
             "Do the rankings survive the modelling assumptions that could move them?"),
    Question("k", "rollout",
             "How fast can a rollout go, and how many devices does a bad release reach "
             "before the manager stops it?"),
)


def question(key_or_name: str) -> Question:
    for q in QUESTIONS:
        if key_or_name in (q.key, q.name):
            return q
    raise ScenarioError(f"no study question {key_or_name!r}; questions: "
                        f"{', '.join(q.key for q in QUESTIONS)}")


def experiments_dir() -> Path:
    """The folder holding the study's experiment files: ./experiments when it has them
    (running from the repository), else the one beside the package's source."""
    here = Path(__file__).resolve().parents[2] / "experiments"
    for folder in (Path("experiments"), here):
        if all((folder / f"{q.name}.toml").is_file() for q in QUESTIONS):
            return folder
    raise ScenarioError("the study's experiment files (experiments/fleet-size.toml, ...) are "
                        "not in ./experiments: run iotsu-sim reproduce from the repository's "
                        "root")
