"""Protocol models (message sizes and timers)."""
