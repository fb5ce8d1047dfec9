"""Serving: the request schema, packaging with BentoML, and blue/green deployment."""
