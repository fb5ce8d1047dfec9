"""Models of the default pipelines: ordinary LightningModules."""
