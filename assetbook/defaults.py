"""Defaults that the command line's help shows and the code uses, in a module that imports
nothing, so that `assetbook --help` answers without loading Dagster."""

DEFAULT_KEEP = 3  # newest data versions kept per partition, besides those a model read
SAMPLE_DAYS = 6  # `assetbook ci`'s sample, when the project has no landed data
SAMPLE_ROWS = 500
SIMULATED_DAYS = 7  # `assetbook run`'s days when the landing source has a simulator
