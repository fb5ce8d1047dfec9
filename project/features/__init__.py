"""Feature transforms shared by the feature notebooks and the served API (no train/serve skew)."""
