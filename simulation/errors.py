"""Errors a user can cause: each carries one line that names the problem."""


class ScenarioError(ValueError):
    """Bad input: an unknown key, a value of the wrong type or out of range, a bad file.

    The command line prints the message as one line and exits with status 2.
    """
