"""The serving runtime: what a bento needs to answer requests (the model file, the request model
from a pandera schema, the BentoML service). It imports no Dagster, Ray or MLflow, so a bento
carries it as a small wheel of its own."""
