"""Fingerprint regression: each case's devices and manager tables hash to the value stored
in `tests/fingerprints.json` (see `tests/fingerprints.py`, which also updates them)."""
import numpy as np
import pandas as pd
import pytest

import fingerprints as fp

CASES = fp.cases()


def test_every_case_has_a_stored_fingerprint():
    assert sorted(fp.stored()) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_fingerprint_unchanged(name):
    got = fp.fingerprint(CASES[name])
    assert got == fp.stored()[name], (
        f"{name}: the run's tables changed ({fp.stored()[name]} -> {got}). If the change "
        "is on purpose, run `python tests/fingerprints.py --update` and say why in the "
        "commit.")


def test_rounding_ignores_last_bits_but_not_the_ninth_digit():
    x = np.array([1234.56789012345, np.nan, 3.0e-7])
    base = fp._rounded(pd.DataFrame({"x": x}))
    assert fp._rounded(pd.DataFrame({"x": x * (1 + 1e-14)})) == base
    assert fp._rounded(pd.DataFrame({"x": x * (1 + 1e-7)})) != base
