"""Sessions: a device's wake-up (or a contact the manager starts) and the booking of what
its exchanges cost into the world, at packet or flow fidelity."""
from simulation.session.session import Session

__all__ = ["Session"]
