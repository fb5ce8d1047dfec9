"""Training: a user's LightningModule fitted on tabular frames, on 1 device or N (DDP)."""
