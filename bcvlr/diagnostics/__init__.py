"""Diagnostics: measurements of a run's models that training never reads."""
