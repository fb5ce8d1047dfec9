"""The `assetbook` command line."""
