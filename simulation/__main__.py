"""`python -m simulation` is the `iotsu-sim` command."""
import sys

from simulation.cli import main

sys.exit(main())
