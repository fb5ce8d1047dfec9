"""Runners do the work (notebooks, training, tuning, packaging, serving) without Dagster."""
