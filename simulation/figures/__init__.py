"""Figures of the study: one consistent style (see style.py)."""
