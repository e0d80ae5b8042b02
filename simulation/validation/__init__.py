"""`iotsu-sim validate`: the model against references known independently of it (closed
forms, RFC timer rules, real stacks' encodings and behaviour, published measurements,
packet fidelity). `run_checks` gives the rows; `markdown` the table, `counted` the table and its
count line."""
from .check import FAIL, PASS, SKIPPED, Check, counted, markdown
from .checks import CHECKS, run_checks

__all__ = ["CHECKS", "Check", "FAIL", "PASS", "SKIPPED", "counted", "markdown", "run_checks"]
