"""This repository's own Assetbook project: the loans example (generator, schema, features,
model) and its code location, `project.definitions`."""
